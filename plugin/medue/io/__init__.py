"""Volume I/O: one entry point to read any supported source and write it back in the same format.

``read_volume`` picks the reader from the path (a folder is a DICOM series, a file is chosen by
extension); ``write_volume`` writes a volume back in its own format, keeping the source's header
and changing only the voxel values; ``read_label`` loads a mask and checks it lies on its image's
grid; ``volume_files`` lists the files an image consists of (a detached header and its data file).

Every write is staged: all files of the output are written into a hidden folder beside the target
under their final names, read back and verified there, and only then moved into place.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.io.atomic import commit_staged, staging_folder
from medue.io.dicom import (
    check_dicom_target,
    is_dicom_folder,
    looks_like_dicom_folder,
    read_dicom_series,
    stage_dicom_series,
)
from medue.io.image_file import (
    image_extension,
    image_file_parts,
    itk_warnings_off,
    read_image_file,
    stage_image_file,
    strip_extension,
)
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
    "volume_files",
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


def write_volume(
    volume: Volume,
    path: str | Path,
    derivation: str = "protected copy",
    verify: Callable[[Volume], None] | None = None,
    before_commit: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``volume`` to ``path`` in its own format; returns ``path``.

    A volume read from a file of the same format keeps that file's header byte for byte (only the
    voxel data changes); a DICOM volume becomes a new derived series. ``verify`` is called with the
    staged output as read back from disk and may raise: then nothing is moved into place.
    ``before_commit`` is then called with the staged output's path (its files carry their final
    names, so its fingerprint is the one the output will have), just before it is moved into
    place: a write-ahead journal records it there, so that a process killed during the move
    leaves a copy its record recognises.
    """
    path = Path(path)
    if volume.format == "dicom":
        check_dicom_target(volume, path)
    with staging_folder(path.parent) as stage:
        staged = stage / path.name
        if volume.format == "dicom":
            parts = stage_dicom_series(volume, staged, derivation)
        else:
            parts = stage_image_file(volume, staged)
        if verify is not None:  # ITK warned about this header when the source was read
            with itk_warnings_off():
                staged_copy = read_volume(staged)
            verify(staged_copy)
        if before_commit is not None:
            before_commit(staged)
        for part in parts:  # data files first, the header that names them last
            commit_staged(stage / part, path.parent / part)
    return path


def volume_files(path: str | Path) -> list[Path]:
    """The files (or series folder) that make up the image at ``path``, header last.

    Paths are relative to ``path``'s folder: a detached NRRD/MetaImage header is listed after its
    data file(s), a NIfTI or attached NRRD/MetaImage file alone, a DICOM series folder alone.
    """
    path = Path(path)
    if path.is_dir():
        return [Path(path.name)]
    return image_file_parts(path)


def read_label(path: str | Path, image: Volume) -> np.ndarray:
    """Read a label map and check it is on ``image``'s grid; returns integer labels (z, y, x)."""
    label = read_volume(path)
    if label.shape != image.shape:
        raise InputError(
            path,
            f"label size {_size(label.shape)} (x*y*z voxels) does not match its image's "
            f"{_size(image.shape)}",
        )
    if not label.geometry.matches(image.geometry):
        raise InputError(path, "label geometry (spacing/origin/direction) does not match its image")
    values = label.array
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.mod(values, 1) == 0):
        raise InputError(path, "label has non-integer values; expected a label map")
    return values.astype(np.int32, copy=False)


def _size(shape_zyx: tuple[int, ...]) -> str:
    """'512x512x61': x first, as ``medue info`` and viewers show sizes."""
    return "x".join(str(n) for n in reversed(shape_zyx))
