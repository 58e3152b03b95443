"""A DICOM file (NEMA PS3.10) as the bytes around its Pixel Data (7FE0,0010) value.

A released DICOM file is a new derived instance: new UIDs, DERIVED, possibly another transfer
syntax, so its elements differ from the original's in length and place. The original's bytes
before and after its Pixel Data value are kept whole (a few kilobytes: the elements); the
pixel value itself is recovered from the released file's Pixel Data (read with pydicom).
"""

from __future__ import annotations

import io

import pydicom
from pydicom.errors import InvalidDicomError

PIXEL_DATA = 0x7FE00010


def pixel_value(data: bytes) -> bytes | None:
    """The Pixel Data value of the DICOM file ``data`` as stored; None without one."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    element = dataset.get(PIXEL_DATA)
    if element is None or not isinstance(element.value, bytes):
        return None
    return element.value


def split(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """``(before, pixel value, after)`` of the DICOM file ``data``; None when it has no Pixel
    Data or the value is not found as one run of bytes (the last occurrence is taken: Pixel
    Data is the last top-level image element)."""
    value = pixel_value(data)
    if not value:
        return None
    at = data.rfind(value)
    if at < 0:
        return None
    return data[:at], value, data[at + len(value) :]
