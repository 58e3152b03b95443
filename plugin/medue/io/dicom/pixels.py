"""DICOM pixel data: which greyscale layouts MedUE protects, and their stored values, exactly.

The Image Pixel module (PS3.3 section C.7.6.3) says how a pixel is held: Samples per Pixel and
Photometric Interpretation (C.7.6.3.1.2), Bits Allocated, Bits Stored and High Bit, Pixel
Representation (unsigned or two's complement); PS3.5 section 8.1.1 packs the Bits Stored at the
bottom of each word (High Bit = Bits Stored - 1). MedUE protects greyscale images (MONOCHROME1 and
MONOCHROME2) in 8, 16 or 32-bit words; colour, palette and 1-bit data are refused.

Stored values are the file's own: MONOCHROME1 keeps its polarity (display inversion is a
presentation step, PS3.3 C.7.6.3.1.2, not part of the values), and a value outside the Bits
Stored range is refused rather than masked, since readers that mask unused bits and readers that
do not would see different images. Native (uncompressed, deflated) and RLE Lossless data are
decoded by pydicom, which returns the stored words untouched. Other compressed transfer syntaxes
(JPEG, JPEG-LS, JPEG 2000; PS3.5 section 8.2) are decoded by GDCM through SimpleITK, whose output
is mapped back to stored values: GDCM masks to Bits Stored, inverts MONOCHROME1 to MONOCHROME2
(x -> 2^BitsStored - 1 - x unsigned, x -> -x - 1 signed) and then applies the rescale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from medue.errors import InputError
from medue.io.dicom.files import read_dataset, transfer_syntax
from medue.io.dicom.frames import frame_count
from medue.io.dicom.geometry import SlicePlane
from medue.io.image_file import itk_warnings_off
from medue.io.volume import StoredEncoding

GREYSCALE = ("MONOCHROME1", "MONOCHROME2")
PYDICOM_SYNTAXES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
     DeflatedExplicitVRLittleEndian, RLELossless}
)  # fmt: skip


@dataclass(frozen=True)
class PixelLayout:
    """How one pixel is held (Image Pixel module, PS3.3 C.7.6.3)."""

    photometric: str
    bits_allocated: int
    bits_stored: int
    high_bit: int
    pixel_representation: int  # 0 unsigned, 1 two's complement

    @property
    def stored_dtype(self) -> np.dtype:
        kind = "i" if self.pixel_representation else "u"
        return np.dtype(f"{kind}{self.bits_allocated // 8}")


def pixel_layout(source: Path, header: Dataset) -> PixelLayout:
    """The layout of ``header``'s pixels, or an InputError if MedUE cannot protect them."""
    photometric = str(header.get("PhotometricInterpretation", "")).strip().upper()
    samples = int(header.get("SamplesPerPixel", 1) or 1)
    if samples != 1 or photometric.startswith(("RGB", "YBR", "PALETTE", "ARGB", "CMYK", "HSV")):
        raise InputError(
            source,
            f"colour images (PhotometricInterpretation {photometric or '?'}, SamplesPerPixel "
            f"{samples}) are not supported: MedUE protects greyscale images",
        )
    if photometric not in GREYSCALE:
        raise InputError(source, f"PhotometricInterpretation '{photometric}' is not supported")
    if "FloatPixelData" in header or "DoubleFloatPixelData" in header:
        raise InputError(source, "floating-point pixel data is not supported")
    layout = PixelLayout(
        photometric=photometric,
        bits_allocated=_int(header, "BitsAllocated", 16),
        bits_stored=_int(header, "BitsStored", _int(header, "BitsAllocated", 16)),
        high_bit=_int(header, "HighBit", _int(header, "BitsStored", 16) - 1),
        pixel_representation=_int(header, "PixelRepresentation", 0),
    )
    _check_bits(source, layout)
    if "ModalityLUTSequence" in header:
        raise InputError(
            source, "uses a Modality LUT (ModalityLUTSequence) instead of a rescale; not supported"
        )
    return layout


def common_layout(folder: Path, files: list[tuple[Path, Dataset]]) -> PixelLayout:
    """The one pixel layout every file of the series shares."""
    layouts = {pixel_layout(path, header) for path, header in files}
    if len(layouts) > 1:
        shown = ", ".join(
            f"{lay.photometric} {lay.bits_stored}/{lay.bits_allocated} bits "
            f"{'signed' if lay.pixel_representation else 'unsigned'}"
            for lay in sorted(layouts, key=str)
        )
        raise InputError(folder, f"slices differ in pixel layout ({shown}); not one volume")
    return layouts.pop()


def encoding_of(folder: Path, layout: PixelLayout, planes: list[SlicePlane]) -> StoredEncoding:
    """Stored dtype, bits and the one rescale every slice shares (mixed rescales are refused)."""
    rescales = sorted({plane.rescale for plane in planes})
    if len(rescales) != 1:
        shown = ", ".join(f"{slope:g}/{intercept:g}" for slope, intercept in rescales[:4])
        raise InputError(
            folder,
            f"slices use {len(rescales)} different rescale slopes/intercepts ({shown}); "
            "not supported",
        )
    slope, intercept = rescales[0]
    if slope == 0 or not np.isfinite([slope, intercept]).all():
        raise InputError(folder, f"invalid RescaleSlope/RescaleIntercept {slope:g}/{intercept:g}")
    return StoredEncoding(
        layout.stored_dtype, slope=slope, intercept=intercept, bits_stored=layout.bits_stored
    )


def stored_frames(path: Path, layout: PixelLayout, encoding: StoredEncoding) -> np.ndarray:
    """The stored values of every frame of ``path``, (frames, rows, columns), checked in range."""
    dataset = read_dataset(path)
    if transfer_syntax(dataset) in PYDICOM_SYNTAXES:
        values = _pydicom_values(path, dataset)
    else:
        values = _gdcm_values(path, layout, encoding)
    shape = (frame_count(dataset), int(dataset.Rows), int(dataset.Columns))
    if values.size != int(np.prod(shape)):
        raise InputError(path, f"pixel data holds {values.size} values, expected {shape}")
    values = values.reshape(shape)
    _check_range(path, values, encoding)
    return values.astype(layout.stored_dtype, copy=False)


def pixel_bytes(stored: np.ndarray, layout: PixelLayout) -> bytes:
    """Native little-endian Pixel Data (PS3.5 section 8.1.1), padded to an even length.

    ``stored`` is already inside the Bits Stored range, so the unused high bits of each word are
    zero (unsigned) or copies of the sign bit (signed), as PS3.5 asks.
    """
    data = np.ascontiguousarray(stored, dtype=layout.stored_dtype.newbyteorder("<")).tobytes()
    return data + b"\0" if len(data) % 2 else data


def _check_bits(source: Path, layout: PixelLayout) -> None:
    if layout.bits_allocated == 1:
        raise InputError(source, "1-bit (bitmap) pixel data is not supported")
    if layout.bits_allocated not in (8, 16, 32):
        raise InputError(source, f"BitsAllocated {layout.bits_allocated} is not supported")
    if not 1 <= layout.bits_stored <= layout.bits_allocated:
        raise InputError(
            source, f"BitsStored {layout.bits_stored} with BitsAllocated {layout.bits_allocated}"
        )
    if layout.high_bit != layout.bits_stored - 1:
        raise InputError(
            source,
            f"HighBit {layout.high_bit} with BitsStored {layout.bits_stored}: the stored bits are "
            "not at the bottom of each word (PS3.5 section 8.1.1); not supported",
        )
    if layout.pixel_representation not in (0, 1):
        raise InputError(source, f"PixelRepresentation {layout.pixel_representation} is invalid")


def _pydicom_values(path: Path, dataset: Dataset) -> np.ndarray:
    try:
        return np.asarray(dataset.pixel_array)
    except Exception as error:  # truncated or malformed pixel data
        raise InputError(path, f"pixel data cannot be decoded ({_first_line(error)})") from None


def _gdcm_values(path: Path, layout: PixelLayout, encoding: StoredEncoding) -> np.ndarray:
    """Stored values of a compressed file decoded by GDCM, with GDCM's mapping undone."""
    try:
        with itk_warnings_off():  # about series sorting, which .geometry checks itself
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        reason = _first_line(error.args[0].strip().splitlines()[-1] if error.args else error)
        raise InputError(path, f"DICOM pixel data cannot be decoded ({reason})") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, "decodes to a colour image; MedUE protects greyscale images")
    values = (
        sitk.GetArrayFromImage(image).astype(np.float64) - encoding.intercept
    ) / encoding.slope
    stored = np.rint(values)
    if values.size and float(np.max(np.abs(values - stored))) > 1e-3:
        raise InputError(
            path, "GDCM's decoded values do not fit the file's rescale; stored values unknown"
        )
    if layout.photometric == "MONOCHROME1":
        stored = -stored - 1 if layout.pixel_representation else 2**layout.bits_stored - 1 - stored
    return stored


def _check_range(path: Path, values: np.ndarray, encoding: StoredEncoding) -> None:
    low, high = encoding.stored_range
    found_low, found_high = float(values.min()), float(values.max())
    if found_low < low or found_high > high:
        raise InputError(
            path,
            f"stored values {found_low:g}..{found_high:g} exceed the {low:g}..{high:g} that "
            f"BitsStored {encoding.bits_stored} allows; readers that mask the unused bits would "
            "see a different image, so MedUE does not guess",
        )


def _int(header: Dataset, keyword: str, default: int) -> int:
    value = header.get(keyword)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _first_line(error) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:160]
