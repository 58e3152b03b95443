"""Volume I/O: one entry point to read any supported source and write it back in the same format.

``read_volume`` picks the reader from the path (a folder is a DICOM series, a file is chosen by
extension); ``write_volume`` writes a volume in its own format next to nothing of the original.
``read_label`` loads a mask and checks it lies on its image's grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.io.dicom_series import (
    is_dicom_folder,
    looks_like_dicom_folder,
    read_dicom_series,
    write_dicom_series,
)
from medue.io.image_file import image_extension, read_image_file, strip_extension, write_image_file
from medue.io.volume import Geometry, StoredEncoding, Volume

__all__ = [
    "Geometry",
    "StoredEncoding",
    "Volume",
    "image_extension",
    "is_dicom_folder",
    "looks_like_dicom_folder",
    "read_label",
    "read_volume",
    "strip_extension",
    "write_volume",
]


def read_volume(path: str | Path) -> Volume:
    """Read an image file (NIfTI/NRRD/MetaImage) or a DICOM series folder."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "path does not exist")
    if path.is_dir():
        return read_dicom_series(path)
    if path.suffix.lower() == ".dcm" or image_extension(path) is None:
        hint = "; for DICOM give the series folder" if path.suffix.lower() == ".dcm" else ""
        raise InputError(path, f"not a supported image file{hint}")
    return read_image_file(path)


def write_volume(volume: Volume, path: str | Path, derivation: str = "protected copy") -> Path:
    """Write ``volume`` in its own format: an image file, or a derived DICOM series folder."""
    if volume.format == "dicom":
        return write_dicom_series(volume, path, derivation)
    return write_image_file(volume, path)


def read_label(path: str | Path, image: Volume) -> np.ndarray:
    """Read a label map and check it is on ``image``'s grid; returns integer labels (z, y, x)."""
    label = read_volume(path)
    if label.shape != image.shape:
        raise InputError(
            path, f"label shape {label.shape} does not match image shape {image.shape}"
        )
    if not label.geometry.matches(image.geometry):
        raise InputError(path, "label geometry (spacing/origin/direction) does not match its image")
    values = label.array
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.mod(values, 1) == 0):
        raise InputError(path, "label has non-integer values; expected a label map")
    return values.astype(np.int32, copy=False)
