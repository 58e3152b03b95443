"""Multi-frame DICOM: enhanced files and NM tomograms read and written back as one file."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_pixel_data_frame
from pydicom.sequence import Sequence
from pydicom.uid import JPEGLosslessSV1

from medue.errors import InputError
from medue.io import read_volume
from tests.io.dicom_builders import (
    assert_header_kept,
    ct_series,
    enhanced_ct,
    nm_tomogram,
    protect,
    ramp,
    raw_words,
    us_cine,
)
from tests.io.test_dicom_pixels import gdcm_jpeg_lossless

FRAME_ORDER = [2, 0, 3, 1]  # file frame i holds slice FRAME_ORDER[i]
GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")


def test_enhanced_ct_round_trip_keeps_frames_and_functional_groups(tmp_path):
    stored = ramp(low=-300)
    (tmp_path / "ect").mkdir()
    source_path = enhanced_ct(tmp_path / "ect" / "enhanced.dcm", stored, FRAME_ORDER)
    volume = read_volume(tmp_path / "ect")
    np.testing.assert_array_equal(volume.array, stored.astype(int) - 1024)
    assert volume.geometry.spacing == pytest.approx((0.7, 0.7, 2.5))
    assert volume.geometry.origin == pytest.approx((-10, -20, 30))
    assert volume.metadata["frames"] == [1, 3, 0, 2]
    change = np.zeros(volume.shape)
    change[3, 2:5, 2:5] = 6  # slice 3 is frame 3 of the file (FRAME_ORDER[2] == 3)
    change[0, 0, 0] = -6
    volume, protected, out = protect(tmp_path / "ect", tmp_path / "out", change, epsilon=6.0)

    [written_path] = list(out.iterdir())
    assert written_path.name == "enhanced.dcm"
    source, written = pydicom.dcmread(source_path), pydicom.dcmread(written_path)
    assert_header_kept(source, written, changed=GROUPS)
    assert list(written.ImageType) == ["DERIVED", "PRIMARY", "AXIAL", "NONE"]
    frame_type = written.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType
    assert list(frame_type) == ["DERIVED", "PRIMARY", "AXIAL", "NONE"]
    for before, after in zip(
        source.PerFrameFunctionalGroupsSequence,
        written.PerFrameFunctionalGroupsSequence,
        strict=True,
    ):
        assert after == before
    words = raw_words(written)
    expected = raw_words(source).astype(int)
    expected[2, 2:5, 2:5] += 6
    expected[1, 0, 0] -= 6
    np.testing.assert_array_equal(words, expected)
    np.testing.assert_array_equal(written.pixel_array, words)
    np.testing.assert_array_equal(read_volume(out).array, protected.array)


def test_jpeg_lossless_enhanced_ct_is_decoded_by_gdcm(tmp_path):
    """Compressed frames: GDCM decodes them and applies the shared rescale, MedUE undoes it."""
    stored = ramp(low=-300)
    (tmp_path / "ect").mkdir()
    path = enhanced_ct(tmp_path / "ect" / "e.dcm", stored, FRAME_ORDER)
    ds = pydicom.dcmread(path)
    scratch = tmp_path / "scratch.dcm"
    streams = [next(generate_pixel_data_frame(gdcm_jpeg_lossless(stored[z], scratch)))
               for z in FRAME_ORDER]  # fmt: skip
    ds.PixelData = encapsulate(streams)
    ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.save_as(str(path), write_like_original=False)
    change = np.full(stored.shape, 3.0)
    volume, protected, out = protect(tmp_path / "ect", tmp_path / "out", change, epsilon=3.0)
    np.testing.assert_array_equal(volume.array, stored.astype(int) - 1024)
    written = pydicom.dcmread(out / "e.dcm")
    assert written.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    np.testing.assert_array_equal(raw_words(written), stored[FRAME_ORDER] + 3)


def test_enhanced_mr_with_two_echoes_is_refused(tmp_path):
    def echo(group, index):
        item = Dataset()
        item.EffectiveEchoTime = [10.0, 10.0, 80.0, 80.0][index]
        group.MREchoSequence = Sequence([item])

    (tmp_path / "emr").mkdir()
    path = enhanced_ct(
        tmp_path / "emr" / "mr.dcm",
        ramp((2, 16, 16)),
        [0, 1, 0, 1],
        per_frame=echo,
        sop_class="1.2.840.10008.5.1.4.1.1.4.1",
        modality="MR",
    )
    with pytest.raises(InputError) as caught:
        read_volume(tmp_path / "emr")
    assert str(caught.value) == (
        f"{path}: holds 2 echoes (EchoTime 10, 80 ms) at the same slice positions; "
        "put each echo in its own folder"
    )


def test_enhanced_frames_with_different_rescales_are_refused(tmp_path):
    def rescale(group, index):
        item = Dataset()
        item.RescaleSlope, item.RescaleIntercept, item.RescaleType = 1 + index % 2, -1024, "HU"
        group.PixelValueTransformationSequence = Sequence([item])

    (tmp_path / "ect").mkdir()
    enhanced_ct(tmp_path / "ect" / "e.dcm", ramp(), FRAME_ORDER, per_frame=rescale)
    with pytest.raises(InputError, match=r"e.dcm: slices use 2 different rescale slopes"):
        read_volume(tmp_path / "ect")


def test_nm_tomogram_round_trip(tmp_path):
    stored = ramp((5, 16, 16), low=0, step=3, dtype="uint16")
    (tmp_path / "spect").mkdir()
    source_path = nm_tomogram(tmp_path / "spect" / "recon.dcm", stored)
    volume = read_volume(tmp_path / "spect")
    assert volume.modality == "NM" and volume.shape == (5, 16, 16)
    assert volume.geometry.spacing == pytest.approx((4, 4, 4))
    np.testing.assert_array_equal(volume.array, stored)
    change = np.full(volume.shape, 2.0)
    volume, protected, out = protect(tmp_path / "spect", tmp_path / "out", change, epsilon=2.0)
    written = pydicom.dcmread(out / "recon.dcm")
    assert_header_kept(pydicom.dcmread(source_path), written)
    np.testing.assert_array_equal(raw_words(written), stored + 2)
    assert list(written.ImageType[:3]) == ["DERIVED", "SECONDARY", "RECON TOMO"]


def test_ultrasound_cine_is_refused(tmp_path):
    (tmp_path / "us").mkdir()
    path = us_cine(tmp_path / "us" / "cine.dcm")
    with pytest.raises(InputError) as caught:
        read_volume(tmp_path / "us")
    assert caught.value.source == str(path)
    assert caught.value.problem.startswith(
        "a multi-frame Ultrasound Multi-frame Image Storage file whose 3 frames carry no slice "
        "positions"
    )


def test_multiframe_file_mixed_with_single_frames_is_refused(tmp_path):
    paths = ct_series(tmp_path / "ct", ramp())
    series_uid = pydicom.dcmread(paths[0]).SeriesInstanceUID
    path = enhanced_ct(tmp_path / "ct" / "e.dcm", ramp(), FRAME_ORDER)
    ds = pydicom.dcmread(path)
    ds.SeriesInstanceUID = series_uid
    ds.save_as(str(path))
    with pytest.raises(InputError, match="some are multi-frame; MedUE reads one multi-frame"):
        read_volume(tmp_path / "ct")
