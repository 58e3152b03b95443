"""DICOM pixel layouts: stored values kept exactly (polarity, BitsStored, sign), others refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import JPEGLosslessSV1, RLELossless

from medue.errors import InputError
from medue.io import read_volume
from tests.io.dicom_builders import (
    assert_faithful_write,
    ct_series,
    protect,
    ramp,
    raw_words,
    written_pairs,
)


def checkerboard(shape, amount: float) -> np.ndarray:
    """+amount and -amount on alternate voxels (native units)."""
    signs = np.where(np.indices(shape).sum(axis=0) % 2 == 0, 1.0, -1.0)
    return signs * amount


@pytest.mark.parametrize(("signed", "slope", "intercept"), [(False, 1, 0), (True, 2, -100)])
def test_monochrome1_keeps_its_polarity(tmp_path, signed, slope, intercept):
    stored = ramp(low=-300 if signed else 100, dtype="int16" if signed else "uint16")
    ct_series(
        tmp_path / "cr",
        stored,
        photometric="MONOCHROME1",
        signed=signed,
        slope=slope,
        intercept=intercept,
    )
    volume = read_volume(tmp_path / "cr")
    assert volume.metadata["photometric_interpretation"] == "MONOCHROME1"
    native = stored.astype(np.int64) * slope + intercept
    np.testing.assert_array_equal(volume.array, native)  # not inverted, unlike GDCM's reading
    change = checkerboard(volume.shape, 4.0)
    volume, protected, out = protect(tmp_path / "cr", tmp_path / "out", change, epsilon=4.0)
    assert_faithful_write(volume, protected, out, epsilon=4.0)
    for index, (source, written) in enumerate(written_pairs(volume, out)):
        step = np.rint(change[index] / slope)
        np.testing.assert_array_equal(raw_words(written)[0], source.pixel_array + step)
        assert written.PhotometricInterpretation == "MONOCHROME1"


def test_twelve_bit_values_are_clipped_to_4095(tmp_path):
    stored = np.full((4, 16, 16), 4093, np.uint16)
    stored[:, :8] = 20
    ct_series(tmp_path / "ct", stored, bits_stored=12, signed=False, intercept=0)
    volume, protected, out = protect(
        tmp_path / "ct", tmp_path / "out", np.full(stored.shape, 5.0), epsilon=5.0
    )
    assert volume.encoding.bits_stored == 12 and volume.metadata["bits_stored"] == 12
    assert_faithful_write(volume, protected, out, epsilon=5.0)
    for _, written in written_pairs(volume, out):
        words = raw_words(written)[0]
        assert words.max() == 4095 and np.all(words[:8] == 25)
        assert not np.any(words >> 12)  # unused high bits are zero
        assert written.LargestImagePixelValue == 4095


def test_signed_twelve_bit_is_sign_extended_and_clipped(tmp_path):
    stored = np.full((4, 16, 16), 2045, np.int16)
    stored[:, :8] = -2046
    ct_series(tmp_path / "ct", stored, bits_stored=12, signed=True, intercept=0)
    change = np.where(np.arange(16)[None, :, None] < 8, -6.0, 6.0) * np.ones(stored.shape)
    volume, protected, out = protect(tmp_path / "ct", tmp_path / "out", change, epsilon=6.0)
    assert volume.encoding.stored_range == (-2048, 2047)
    assert_faithful_write(volume, protected, out, epsilon=6.0)
    for _, written in written_pairs(volume, out):
        words = raw_words(written)[0]
        assert words.min() == -2048 and words.max() == 2047
        as_unsigned = words.view(np.uint16)
        top = as_unsigned >> 11  # bits 11..15: all copies of the sign bit
        assert set(np.unique(top)) <= {0, 0b11111}


@pytest.mark.parametrize(("signed", "bad"), [(False, 5000), (True, 2048)])
def test_values_outside_bits_stored_are_refused(tmp_path, signed, bad):
    stored = ramp(step=1, dtype="int16" if signed else "uint16")
    stored[2, 3, 4] = bad
    paths = ct_series(tmp_path / "ct", stored, bits_stored=12, signed=signed)
    with pytest.raises(InputError, match=r"exceed .* BitsStored 12") as caught:
        read_volume(tmp_path / "ct")
    assert caught.value.source == str(paths[2])


def test_high_bit_not_at_the_bottom_is_refused(tmp_path):
    ct_series(tmp_path / "ct", ramp(), bits_stored=12, high_bit=15)
    with pytest.raises(InputError, match="HighBit 15 with BitsStored 12"):
        read_volume(tmp_path / "ct")


def test_slices_with_different_rescales_are_refused(tmp_path):
    def second_slice_scaled(ds, k):
        if k == 1:
            ds.RescaleSlope = "2"

    ct_series(tmp_path / "pet", ramp(), edit=second_slice_scaled)
    with pytest.raises(InputError, match="pet: slices use 2 different rescale slopes"):
        read_volume(tmp_path / "pet")


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR"])
def test_colour_images_are_refused(tmp_path, photometric):
    def colour(ds, k):
        samples = 1 if photometric == "PALETTE COLOR" else 3
        ds.SamplesPerPixel, ds.PhotometricInterpretation = samples, photometric
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        if samples == 3:
            ds.PlanarConfiguration = 0
        ds.PixelData = bytes(16 * 16 * samples)

    ct_series(
        tmp_path / "us", ramp(), edit=colour, modality="US", sop_class="1.2.840.10008.5.1.4.1.1.6.1"
    )
    with pytest.raises(InputError) as caught:
        read_volume(tmp_path / "us")
    assert caught.value.problem.startswith(
        f"colour images (PhotometricInterpretation {photometric}"
    )
    assert "MedUE protects greyscale images" in caught.value.problem


def test_eight_bit_mr_is_clipped_to_255(tmp_path):
    stored = np.full((4, 16, 16), 253, np.uint8)
    ct_series(
        tmp_path / "mr",
        stored,
        signed=False,
        intercept=0,
        modality="MR",
        sop_class="1.2.840.10008.5.1.4.1.1.4",
    )
    volume, protected, out = protect(
        tmp_path / "mr", tmp_path / "out", np.full(stored.shape, 4.0), epsilon=4.0
    )
    assert volume.modality == "MR" and volume.encoding.stored_dtype == np.uint8
    assert_faithful_write(volume, protected, out, epsilon=4.0)
    assert all(raw_words(w).max() == 255 for _, w in written_pairs(volume, out))


def test_rle_compressed_source_is_written_uncompressed(tmp_path):
    stored = ramp(low=-500)
    for path in ct_series(tmp_path / "ct", stored, photometric="MONOCHROME1"):
        ds = pydicom.dcmread(path)
        ds.compress(RLELossless)
        ds.save_as(str(path))
    change = checkerboard(stored.shape, 3.0)
    volume, protected, out = protect(tmp_path / "ct", tmp_path / "out", change, epsilon=3.0)
    np.testing.assert_array_equal(volume.array, stored - 1024)
    assert_faithful_write(volume, protected, out, epsilon=3.0)
    for _, written in written_pairs(volume, out):
        assert written.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian


def gdcm_jpeg_lossless(stored: np.ndarray, scratch: Path) -> bytes:
    """Encapsulated JPEG Lossless pixel data for one slice, encoded by GDCM."""
    writer = sitk.ImageFileWriter()
    writer.SetFileName(str(scratch))
    writer.SetUseCompression(True)
    writer.SetCompressor("JPEG")
    writer.Execute(sitk.GetImageFromArray(stored[None]))
    return pydicom.dcmread(scratch).PixelData


@pytest.mark.parametrize(
    ("photometric", "signed"),
    [("MONOCHROME2", True), ("MONOCHROME1", False), ("MONOCHROME1", True)],
)
def test_jpeg_lossless_source_decoded_by_gdcm(tmp_path, photometric, signed):
    stored = ramp(low=-700 if signed else 40, dtype="int16" if signed else "uint16")
    paths = ct_series(
        tmp_path / "ct", stored, photometric=photometric, signed=signed, slope=2, intercept=-100
    )
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.PixelData = gdcm_jpeg_lossless(stored[k], tmp_path / "scratch.dcm")
        ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.save_as(str(path), write_like_original=False)
    change = checkerboard(stored.shape, 4.0)
    volume, protected, out = protect(tmp_path / "ct", tmp_path / "out", change, epsilon=4.0)
    np.testing.assert_array_equal(volume.array, stored.astype(np.int64) * 2 - 100)
    assert_faithful_write(volume, protected, out, epsilon=4.0)


def test_zero_change_writes_the_stored_words_back(tmp_path):
    stored = ramp(low=-1000, step=1)
    ct_series(tmp_path / "ct", stored, bits_stored=12)
    volume, protected, out = protect(tmp_path / "ct", tmp_path / "out", np.zeros(stored.shape), 1)
    for source, written in written_pairs(volume, out):
        np.testing.assert_array_equal(raw_words(written), raw_words(source))


def test_what_gdcm_does_to_stored_values(tmp_path):
    """Measured SimpleITK 2.5 / GDCM behaviour that MedUE's GDCM fallback undoes: MONOCHROME1
    is inverted to MONOCHROME2 before the rescale, and bits above BitsStored are masked (signed
    values sign-extended from the HighBit). pydicom returns the stored words as they are."""

    def gdcm(folder):
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
        return sitk.GetArrayFromImage(reader.Execute())

    stored = ramp(step=1, dtype="uint16")
    ct_series(tmp_path / "m1", stored, photometric="MONOCHROME1", bits_stored=12, signed=False,
              intercept=0)  # fmt: skip
    np.testing.assert_array_equal(gdcm(tmp_path / "m1"), 4095 - stored)
    signed = ramp(low=-300, dtype="int16")
    ct_series(tmp_path / "m1s", signed, photometric="MONOCHROME1", slope=2, intercept=-100)
    np.testing.assert_array_equal(gdcm(tmp_path / "m1s"), (-signed.astype(int) - 1) * 2 - 100)
    high = stored.copy()
    high[0, 0, 0] = 5000
    ct_series(tmp_path / "u12", high, bits_stored=12, signed=False, intercept=0)
    assert gdcm(tmp_path / "u12")[0, 0, 0] == 5000 & 0xFFF
    unextended = ramp(step=1)
    unextended[0, 0, 0] = 2048
    paths = ct_series(tmp_path / "s12", unextended, bits_stored=12, intercept=0)
    assert gdcm(tmp_path / "s12")[0, 0, 0] == -2048
    assert pydicom.dcmread(paths[0]).pixel_array[0, 0] == 2048
