"""NIfTI files as converters write them: the protected copy keeps the header byte for byte.

Each test builds a tiny file of one kind with nibabel's header class and raw data (not MedUE),
protects a dataset holding it, and checks the written file with nibabel: the bytes before the
voxel data are identical, the stored type and scaling are the source's, the change is within the
budget in native units and on the stored grid, and the label (copied unchanged) still lines up.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np
import pytest

from medue.datasets import Case, load_case
from medue.errors import InputError
from medue.io import read_volume
from medue.summary import summarise
from tests.io.field_files import (
    cube_label,
    nifti_header_bytes,
    phantom,
    protect_folder,
    stored_xyz,
    write_nifti,
)

SHEARED = np.array([[0.7, 0.1, 0, -12], [0, 0.8, 0, 30.5], [0, 0, 2.5, 7.25], [0, 0, 0, 1]])
OTHER_QFORM = np.diag([0.7, 0.8, 2.5, 1.0])
OTHER_QFORM[:3, 3] = (19.0, 30.5, 7.25)  # 31 mm away from the sform's origin

FLIPPED = np.diag([-0.7, 0.8, -2.5, 1.0])  # negative qfac: z runs the other way
FLIPPED[:3, 3] = (11.0, -4.0, 20.0)

KINDS = {
    "qform_flipped_sform_absent": dict(qform=FLIPPED, qform_code=1, sform_code=0),
    "sform_only_mni": dict(qform_code=0, sform_code=4),
    "micron_units": dict(xyzt_units=3),
    "ct_scaled": dict(dtype="int16", slope=2.0, inter=-1024.0, low=0, high=1500),
    "qform_ne_sform": dict(qform=OTHER_QFORM, qform_code=1, sform_code=2),
    "codes_zero": dict(qform_code=0, sform_code=0),
    "big_endian": dict(endian=">"),
    "extension_intent_descrip": dict(
        extension=b"converter note", intent_code=1001, descrip=b"T1 from scanner X", xyzt_units=2
    ),
    "uint8": dict(dtype="uint8", low=0, high=255),
    "float_scaled": dict(dtype="float32", slope=0.5, inter=10.0),
    "fractional_scale": dict(dtype="uint16", slope=0.25, inter=-3.0, low=0, high=4000),
}


def make_case(folder: Path, name: str, kind: dict, shape=(16, 12, 6), suffix=".nii.gz") -> Path:
    kind = dict(kind)
    low, high = kind.pop("low", 100), kind.pop("high", 300)
    (folder / "labels/final").mkdir(parents=True, exist_ok=True)
    image = write_nifti(folder / f"{name}{suffix}", phantom(shape, low, high), **kind)
    geometry = {
        k: v
        for k, v in kind.items()
        if k in ("qform", "qform_code", "sform", "sform_code", "xyzt_units")
    }
    label_data = cube_label(shape[:3]).reshape(shape)
    write_nifti(folder / f"labels/final/{name}{suffix}", label_data, "uint8", **geometry)
    return image


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_protected_copy_keeps_the_header_and_stored_grid(kind, tmp_path):
    source = make_case(tmp_path / "in", kind, KINDS[kind])
    label = tmp_path / "in/labels/final" / source.name
    before = source.read_bytes()
    outcome = protect_folder(tmp_path / "in", tmp_path / "out", epsilon=4.0)
    assert not outcome.failures, outcome.failures
    written = tmp_path / "out" / source.name

    assert nifti_header_bytes(written) == nifti_header_bytes(source)
    old, new = nibabel.load(str(source)), nibabel.load(str(written))
    assert new.dataobj.dtype == old.dataobj.dtype
    assert (new.dataobj.slope, new.dataobj.inter) == (old.dataobj.slope, old.dataobj.inter)
    assert new.shape == old.shape
    np.testing.assert_array_equal(new.get_qform(), old.get_qform())
    np.testing.assert_array_equal(new.get_sform(), old.get_sform())
    change = np.asarray(new.dataobj, np.float64) - np.asarray(old.dataobj, np.float64)
    assert 0 < np.abs(change).max() <= 4.0 + 1e-9  # native units (HU for the CT kind)
    raw_change = stored_xyz(written).astype(np.float64) - stored_xyz(source)
    if np.issubdtype(old.dataobj.dtype, np.integer):
        assert np.all(raw_change == np.round(raw_change))  # on the stored integer grid
    roi = np.asarray(nibabel.load(str(label)).dataobj) > 0
    assert np.abs(change[roi]).max() > 0  # the label's voxels are the ones protected
    assert (tmp_path / "out/labels/final" / label.name).read_bytes() == label.read_bytes()
    assert source.read_bytes() == before  # the original is only read
    [case] = json.loads(outcome.manifest.read_text())["cases"]
    assert case["metrics"]["epsilon_over_sigma"] > 0 and case["metrics"]["psnr_roi_db"] > 0
    assert "max change" in outcome.report.read_text() and "sigma" in outcome.report.read_text()


def test_ct_scaling_is_reported_and_budget_in_hu(tmp_path):
    source = make_case(tmp_path, "ct", KINDS["ct_scaled"])
    volume = read_volume(source)
    assert volume.encoding.stored_dtype == np.int16
    assert (volume.encoding.slope, volume.encoding.intercept) == (2.0, -1024.0)
    assert volume.encoding.native_step == 2.0
    np.testing.assert_array_equal(volume.array.transpose(), nibabel.load(source).dataobj)
    summary = summarise(load_case(Case("ct", source, None)))
    assert summary.dtype == "int16, native = 2 * stored -1024"
    assert "int16, native = 2 * stored -1024" in summary.as_line()


def test_singleton_dimension_is_kept(tmp_path):
    source = make_case(tmp_path / "in", "t1", {}, shape=(16, 12, 6, 1))
    outcome = protect_folder(tmp_path / "in", tmp_path / "out", epsilon=3.0)
    assert not outcome.failures, outcome.failures
    written = nibabel.load(str(tmp_path / "out" / source.name))
    assert written.shape == (16, 12, 6, 1)
    assert nifti_header_bytes(tmp_path / "out" / source.name) == nifti_header_bytes(source)


def test_uncompressed_nii_stays_uncompressed(tmp_path):
    source = make_case(tmp_path / "in", "plain", {}, suffix=".nii")
    outcome = protect_folder(tmp_path / "in", tmp_path / "out", epsilon=3.0)
    assert not outcome.failures, outcome.failures
    written = tmp_path / "out/plain.nii"
    assert written.read_bytes()[:2] != b"\x1f\x8b" and len(written.read_bytes()) == len(
        source.read_bytes()
    )
    manifest = json.loads((tmp_path / "out.private/manifest.json").read_text())
    assert manifest["cases"][0]["output"].endswith("plain.nii")


@pytest.mark.parametrize(
    ("dtype", "problem"),
    [("int64", "unsupported voxel type"), ("complex64", "2 channels per voxel")],
)
def test_types_that_cannot_be_protected_are_refused(tmp_path, dtype, problem):
    source = write_nifti(tmp_path / "odd.nii.gz", phantom(), dtype)
    with pytest.raises(InputError) as error:
        read_volume(source)
    assert problem in str(error.value) and "odd.nii.gz" in str(error.value)


def test_nifti2_is_refused_by_name(tmp_path):
    source = write_nifti(tmp_path / "v2.nii.gz", phantom(), version=2)
    with pytest.raises(InputError) as error:
        read_volume(source)
    assert "v2.nii.gz" in str(error.value) and "NIfTI-2 is not supported" in str(error.value)


def test_non_orthonormal_transform_is_refused_by_name(tmp_path):
    source = write_nifti(
        tmp_path / "sheared.nii.gz", phantom(), sform=SHEARED, sform_code=2, qform_code=0
    )
    with pytest.raises(InputError) as error:
        read_volume(source)
    assert "sheared.nii.gz" in str(error.value)


def test_nifti_pair_keeps_header_file_and_writes_its_img(tmp_path):
    folder = tmp_path / "in"
    (folder / "labels/final").mkdir(parents=True)
    for path, values, dtype in (
        (folder / "pair.nii.gz", phantom(), "int16"),
        (folder / "labels/final/pair.nii.gz", cube_label(), "uint8"),
    ):
        single = nibabel.load(str(write_nifti(path, values, dtype)))
        nibabel.save(
            nibabel.Nifti1Pair(np.asarray(single.dataobj), single.affine),
            path.with_name("pair.hdr"),
        )
        path.unlink()
    outcome = protect_folder(folder, tmp_path / "out", epsilon=3.0)
    assert not outcome.failures, outcome.failures
    for name in ("pair.hdr", "labels/final/pair.hdr", "labels/final/pair.img"):
        assert (tmp_path / "out" / name).read_bytes() == (folder / name).read_bytes()
    old = np.asarray(nibabel.load(str(folder / "pair.hdr")).dataobj, np.float64)
    new = np.asarray(nibabel.load(str(tmp_path / "out/pair.hdr")).dataobj, np.float64)
    assert 0 < np.abs(new - old).max() <= 3.0


def test_analyze_header_is_refused_by_name(tmp_path):
    nibabel.save(nibabel.AnalyzeImage(phantom().astype(np.int16), np.eye(4)), tmp_path / "old.hdr")
    with pytest.raises(InputError) as error:
        read_volume(tmp_path / "old.hdr")
    assert "old.hdr" in str(error.value) and "Analyze 7.5" in str(error.value)


@pytest.mark.parametrize(
    ("name", "fix"), [("plain.nii.gz", "without .gz"), ("packed.nii", ".nii.gz")]
)
def test_compression_that_contradicts_the_name_is_named(tmp_path, name, fix):
    right = "plain.nii" if name.endswith(".gz") else "packed.nii.gz"
    source = write_nifti(tmp_path / right, phantom())
    source.rename(tmp_path / name)
    with pytest.raises(InputError) as error:
        read_volume(tmp_path / name)
    assert name in str(error.value) and fix in str(error.value)


def test_report_opens_with_a_summary_and_shows_settings_as_a_table(tmp_path):
    make_case(tmp_path / "in", "ct", KINDS["ct_scaled"])
    outcome = protect_folder(tmp_path / "in", tmp_path / "out", epsilon=4.0)
    page = outcome.report.read_text()
    summary = page[page.index("<h2>Summary</h2>") : page.index("<h2>Settings</h2>")]
    assert "1 images protected, 0 failed." in summary
    assert "times the noise sigma of its own image" in summary
    assert "over the box of the region it may change" in summary
    assert "Not checked on this data" in summary
    assert "<td>settings.method</td><td>random</td>" in page
    assert "<pre>" not in page  # no JSON dump
