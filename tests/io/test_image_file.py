"""NIfTI/NRRD reading and writing on real sample cases: geometry, dtype, atomicity, bad files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

from medue.errors import InputError
from medue.io import nifti, read_label, read_volume, write_volume
from medue.io.atomic import TMP_PREFIX


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", ["brain1", "lung1"])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_round_trip_keeps_values_geometry_dtype(sample_dataset: Path, tmp_path, case, suffix):
    source = sample_dataset / f"{case}.nii.gz"
    before = sha256(source)
    volume = read_volume(source)
    out = write_volume(volume, tmp_path / f"{case}{suffix}")
    again = read_volume(out)
    assert again.array.dtype == volume.array.dtype
    np.testing.assert_array_equal(again.array, volume.array)
    assert again.geometry.matches(volume.geometry, tolerance=1e-6)
    assert sha256(source) == before
    assert not list(tmp_path.glob(f"{TMP_PREFIX}*"))


def test_ct_is_recognised_and_mr_is_not(sample_dataset: Path):
    assert read_volume(sample_dataset / "lung1.nii.gz").modality == "CT"
    assert read_volume(sample_dataset / "brain1.nii.gz").modality == "unknown"


def test_writing_rounds_to_the_stored_dtype(sample_dataset: Path, tmp_path):
    volume = read_volume(sample_dataset / "lung1.nii.gz")
    shifted = volume.with_array(volume.array + 0.6)  # a float change the int16 file must round
    again = read_volume(write_volume(shifted, tmp_path / "x.nii.gz"))
    np.testing.assert_array_equal(again.array, volume.array.astype(np.int64) + 1)


def test_failed_write_leaves_no_file(sample_dataset: Path, tmp_path, monkeypatch):
    volume = read_volume(sample_dataset / "brain1.nii.gz")

    def broken_write(path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    broken_gzip = SimpleNamespace(
        open=gzip.open, BadGzipFile=gzip.BadGzipFile, GzipFile=broken_write
    )
    monkeypatch.setattr(nifti, "gzip", broken_gzip)
    with pytest.raises(KeyboardInterrupt):
        write_volume(volume, tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_label_on_another_grid_is_refused(sample_dataset: Path, tmp_path):
    image = read_volume(sample_dataset / "brain1.nii.gz")
    label = sitk.ReadImage(str(sample_dataset / "labels/final/brain1.nii.gz"))
    label.SetSpacing([s * 2 for s in label.GetSpacing()])
    sitk.WriteImage(label, str(tmp_path / "moved.nii.gz"))
    with pytest.raises(InputError, match="geometry .* does not match"):
        read_label(tmp_path / "moved.nii.gz", image)
    cropped = sitk.ReadImage(str(sample_dataset / "labels/final/brain1.nii.gz"))[:, :, :5]
    sitk.WriteImage(cropped, str(tmp_path / "cropped.nii.gz"))
    with pytest.raises(InputError, match="label size .* does not match"):
        read_label(tmp_path / "cropped.nii.gz", image)


def test_truncated_file(sample_dataset: Path, tmp_path):
    data = (sample_dataset / "brain1.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.nii.gz: cannot be read"):
        read_volume(tmp_path / "cut.nii.gz")


def test_text_with_image_extension(tmp_path):
    (tmp_path / "notes.nii.gz").write_text("not an image")
    with pytest.raises(InputError, match="notes.nii.gz: cannot be read"):
        read_volume(tmp_path / "notes.nii.gz")


def test_4d_image(tmp_path):
    volume = sitk.JoinSeries([sitk.Image([8, 8, 8], sitk.sitkInt16)] * 2)
    sitk.WriteImage(volume, str(tmp_path / "dyn.nii.gz"))
    with pytest.raises(InputError, match="is 4D"):
        read_volume(tmp_path / "dyn.nii.gz")


def test_nan_in_float_image(tmp_path):
    array = np.ones((4, 8, 8), np.float32)
    array[1, 2, 3] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "nan.nii.gz"))
    with pytest.raises(InputError, match="1 NaN"):
        read_volume(tmp_path / "nan.nii.gz")


def test_unsupported_dtype_and_channels(tmp_path):
    rgb = sitk.Image([8, 8], sitk.sitkVectorUInt8, 3)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.nrrd"))
    with pytest.raises(InputError, match="3 channels"):
        read_volume(tmp_path / "rgb.nrrd")
    sitk.WriteImage(sitk.Image([8, 8, 8], sitk.sitkInt64), str(tmp_path / "i64.nrrd"))
    with pytest.raises(InputError, match="unsupported voxel type int64"):
        read_volume(tmp_path / "i64.nrrd")


def test_missing_path_and_wrong_kind(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_volume(tmp_path / "nothing.nii.gz")
    (tmp_path / "one.dcm").write_bytes(b"x")
    with pytest.raises(InputError, match="give the series folder"):
        read_volume(tmp_path / "one.dcm")
