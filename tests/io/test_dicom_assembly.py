"""Series assembly: slices make one volume on one grid, or the folder is refused with the reason."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from medue.errors import InputError
from medue.io import read_volume, write_volume
from tests.io.dicom_builders import Study, ct_series, ramp

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def set_tag(keyword: str, values_by_slice):
    def edit(ds, k):
        setattr(ds, keyword, values_by_slice(k))

    return edit


def two_series_in_one(tmp_path, keyword: str, first, second, modality="MR"):
    """Two sets of 4 slices at the same positions sharing one Series Instance UID."""
    study, series_uid = Study(), generate_uid()
    for prefix, value in (("a_", first), ("b_", second)):
        ct_series(
            tmp_path / "mr",
            ramp(),
            study=study,
            series_uid=series_uid,
            prefix=prefix,
            modality=modality,
            sop_class=MR_STORAGE,
            edit=set_tag(keyword, lambda k, v=value: v),
            intercept=0,
        )
    return tmp_path / "mr"


def test_two_echoes_are_refused(tmp_path):
    folder = two_series_in_one(tmp_path, "EchoTime", "10", "80")
    with pytest.raises(InputError) as caught:
        read_volume(folder)
    assert str(caught.value) == (
        f"{folder}: holds 2 echoes (EchoTime 10, 80 ms) at the same slice positions; "
        "put each echo in its own folder"
    )


def test_two_echo_numbers_are_refused(tmp_path):
    folder = two_series_in_one(tmp_path, "EchoNumbers", "1", "2")
    with pytest.raises(InputError, match=r"mr: holds 2 echoes \(EchoNumbers 1, 2\)"):
        read_volume(folder)


def test_two_time_points_are_refused(tmp_path):
    folder = two_series_in_one(tmp_path, "TemporalPositionIdentifier", 1, 2)
    with pytest.raises(InputError, match=r"holds 2 time points \(TemporalPositionIdentifier 1, 2"):
        read_volume(folder)


def test_two_acquisitions_at_the_same_positions_are_refused(tmp_path):
    folder = two_series_in_one(tmp_path, "AcquisitionNumber", 1, 2, modality="CT")
    with pytest.raises(InputError, match=r"holds 2 acquisitions \(AcquisitionNumber 1, 2\) at the"):
        read_volume(folder)


def test_duplicate_slice_is_refused(tmp_path):
    paths = ct_series(tmp_path / "ct", ramp())
    copy = pydicom.dcmread(paths[1])
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    copy.save_as(str(tmp_path / "ct" / "copy.dcm"))
    with pytest.raises(InputError, match=r"ct: .* lie at the same slice position \(-10, -20, 32.5"):
        read_volume(tmp_path / "ct")


def test_missing_slice_is_refused(tmp_path):
    paths = ct_series(tmp_path / "ct", ramp((6, 16, 16)))
    paths[2].unlink()
    with pytest.raises(InputError) as caught:
        read_volume(tmp_path / "ct")
    assert str(caught.value) == (
        f"{tmp_path / 'ct'}: 1 slice(s) missing between slice_005.dcm and slice_003.dcm "
        "(a 5 mm gap where slices are 2.5 mm apart); MedUE needs the complete series"
    )


def test_uneven_spacing_is_refused(tmp_path):
    def shift_last(ds, k):
        if k == 3:
            ds.ImagePositionPatient = [-10, -20, 30 + 2.5 * 3 + 0.6]

    ct_series(tmp_path / "ct", ramp(), edit=shift_last)
    with pytest.raises(InputError, match=r"slice spacing is not uniform \(2.5 to 3.1 mm"):
        read_volume(tmp_path / "ct")


def test_spacing_jitter_within_tolerance_is_accepted(tmp_path):
    def jitter(ds, k):
        ds.ImagePositionPatient = [-10, -20, 30 + 2.5 * k + (0.004 if k == 2 else 0)]

    ct_series(tmp_path / "ct", ramp(), edit=jitter)
    assert read_volume(tmp_path / "ct").geometry.spacing[2] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("ImageOrientationPatient", [0, 1, 0, 0, 0, -1], r"2 different orientations \(1\\0\\0"),
        ("PixelSpacing", [0.5, 0.5], r"2 different PixelSpacing \(0.7\\0.7, 0.5\\0.5\)"),
    ],
)
def test_a_slice_unlike_the_others_is_refused(tmp_path, keyword, value, message):
    ct_series(tmp_path / "ct", ramp(), edit=lambda ds, k: k == 2 and setattr(ds, keyword, value))
    with pytest.raises(InputError, match=message):
        read_volume(tmp_path / "ct")


def test_slices_of_different_sizes_are_refused(tmp_path):
    ct_series(tmp_path / "ct", ramp())
    ct_series(tmp_path / "small", ramp((1, 8, 8)))
    src = next((tmp_path / "small").iterdir())
    ds = pydicom.dcmread(src)
    ds.SeriesInstanceUID = pydicom.dcmread(next((tmp_path / "ct").iterdir())).SeriesInstanceUID
    ds.ImagePositionPatient = [-10, -20, 40]
    ds.save_as(str(tmp_path / "ct" / "small.dcm"))
    with pytest.raises(InputError, match=r"2 different sizes \(Rows x Columns\) \(16x16, 8x8\)"):
        read_volume(tmp_path / "ct")


def test_gantry_tilt_is_refused(tmp_path):
    def tilt(ds, k):
        ds.ImagePositionPatient = [-10, -20 + 0.8 * k, 30 + 2.5 * k]

    ct_series(tmp_path / "ct", ramp(), edit=tilt)
    with pytest.raises(InputError, match="shifted within their plane .* gantry tilt"):
        read_volume(tmp_path / "ct")


def test_oblique_series_matches_gdcm_geometry(tmp_path):
    c, s = np.cos(0.3), np.sin(0.3)
    orientation = (c, s, 0, -s * 0.6, c * 0.6, -0.8)
    ct_series(tmp_path / "ct", ramp(), orientation=orientation)
    volume = read_volume(tmp_path / "ct")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "ct")))
    image = reader.Execute()
    assert volume.geometry.spacing == pytest.approx(image.GetSpacing(), abs=1e-4)
    assert volume.geometry.origin == pytest.approx(image.GetOrigin(), abs=1e-4)
    assert volume.geometry.direction == pytest.approx(image.GetDirection(), abs=1e-4)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))


def test_single_radiograph_without_position_is_one_slice(tmp_path):
    def radiograph(ds, k):
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
            delattr(ds, keyword)
        ds.ImagerPixelSpacing = [0.15, 0.15]

    dx = "1.2.840.10008.5.1.4.1.1.1.1"
    ct_series(
        tmp_path / "dx",
        ramp((1, 16, 16)),
        edit=radiograph,
        modality="DX",
        sop_class=dx,
        photometric="MONOCHROME1",
        signed=False,
        intercept=0,
    )
    volume = read_volume(tmp_path / "dx")
    assert volume.shape == (1, 16, 16) and volume.geometry.spacing == (0.15, 0.15, 1.0)
    out = write_volume(volume.with_array(volume.array + 1), tmp_path / "out")
    written = pydicom.dcmread(next(out.iterdir()))
    np.testing.assert_array_equal(written.pixel_array, ramp((1, 16, 16))[0] + 1)
    assert written.PhotometricInterpretation == "MONOCHROME1"


def test_earlier_output_may_be_replaced_but_foreign_folders_not(tmp_path):
    ct_series(tmp_path / "ct", ramp())
    volume = read_volume(tmp_path / "ct")
    write_volume(volume, tmp_path / "out")
    write_volume(volume, tmp_path / "out")  # an earlier MedUE output: replaced
    shutil.copytree(tmp_path / "ct", tmp_path / "foreign")
    with pytest.raises(InputError, match="holds files MedUE did not write"):
        write_volume(volume, tmp_path / "foreign")
