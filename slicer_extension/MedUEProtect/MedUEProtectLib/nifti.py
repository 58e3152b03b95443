"""Read the voxels of a NIfTI-1 file (``.nii`` or ``.nii.gz``) with numpy: the preview's format.

Slicer reads NIfTI itself; this is for the panel's checks and pictures outside Slicer. NIfTI-1
(https://nifti.nimh.nih.gov/nifti-1): a 348-byte header (``sizeof_hdr`` = 348, either byte
order), ``dim`` at byte 40, ``datatype`` at 70, ``pixdim`` at 76, ``vox_offset`` at 108,
``scl_slope``/``scl_inter`` at 112/116, then the voxels, first index fastest.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from MedUEProtectLib.errors import MedUEError

DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


@dataclass(frozen=True)
class NiftiImage:
    """Voxels as numpy ``(z, y, x)`` (scaled by ``scl_slope``/``scl_inter`` when set) and the
    voxel spacing in mm, ``(x, y, z)``."""

    array: np.ndarray
    spacing: tuple[float, float, float]


def read_nifti(path: str | Path) -> NiftiImage:
    """The image in ``path``; MedUEError naming the file for anything not a readable NIfTI-1."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as error:
        raise MedUEError(f"{path.name}: cannot be read ({error})") from None
    if len(raw) < 348:
        raise MedUEError(f"{path.name}: too short for a NIfTI-1 header")
    order = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    if struct.unpack(order + "i", raw[:4])[0] != 348:
        raise MedUEError(f"{path.name}: not a NIfTI-1 file (sizeof_hdr is not 348)")
    dim = struct.unpack(order + "8h", raw[40:56])
    datatype = struct.unpack(order + "h", raw[70:72])[0]
    pixdim = struct.unpack(order + "8f", raw[76:108])
    offset = int(struct.unpack(order + "f", raw[108:112])[0])
    slope, inter = struct.unpack(order + "2f", raw[112:120])
    if datatype not in DTYPES:
        raise MedUEError(f"{path.name}: NIfTI datatype {datatype} is not supported here")
    shape = tuple(max(1, int(d)) for d in dim[1:4])  # x, y, z
    dtype = np.dtype(order + DTYPES[datatype])
    count = int(np.prod(shape))
    if len(raw) < offset + count * dtype.itemsize:
        raise MedUEError(f"{path.name}: the file is truncated")
    voxels = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    array = voxels.reshape(shape[::-1])  # first index fastest -> numpy (z, y, x)
    if slope not in (0.0, 1.0) or inter != 0.0:
        array = array * (slope or 1.0) + inter
    return NiftiImage(np.asarray(array), (pixdim[1], pixdim[2], pixdim[3]))
