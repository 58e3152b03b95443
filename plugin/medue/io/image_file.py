"""Image files (NIfTI, NRRD, MetaImage): read as stored, written back with the source's header.

Reading checks what MedUE can protect (2D/3D, one channel, a supported dtype, finite values) and
turns every failure into one :class:`~medue.errors.InputError` naming the file. Geometry comes
from SimpleITK (the reader labels are checked with too); NIfTI voxels come from nibabel, so the
stored values and the header's scaling are known exactly. Writing a volume back to its own format
copies the source header byte for byte and changes only the voxel data (``nifti``, ``nrrd``,
``metaimage`` modules); a volume with no source of that format is written fresh by SimpleITK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medue.errors import InputError
from medue.io import metaimage, nifti, nrrd
from medue.io.volume import SUPPORTED_DTYPES, Geometry, StoredEncoding, Volume, VolumeFormat

EXTENSIONS: dict[str, VolumeFormat] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".hdr": "nifti",  # NIfTI-1 pair: header here, data in the .img beside it
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}
KNOWN = ", ".join(EXTENSIONS)


def image_extension(path: str | Path) -> str | None:
    """The recognised image extension of ``path`` (``.nii.gz`` counts as one), or None."""
    name = Path(path).name.lower()
    return next((ext for ext in EXTENSIONS if name.endswith(ext)), None)


def strip_extension(path: str | Path) -> str:
    """File name without its image extension: the image id used across MedUE."""
    name = Path(path).name
    ext = image_extension(name)
    return name[: -len(ext)] if ext else Path(name).stem


def read_image_file(path: str | Path) -> Volume:
    """Load a NIfTI/NRRD/MetaImage file into a :class:`Volume` (native units, z-y-x axes)."""
    path = Path(path)
    ext = image_extension(path)
    if ext is None:
        raise InputError(path, f"not a supported image file (expected {KNOWN})")
    if not path.is_file():
        raise InputError(path, "file does not exist")
    kind = EXTENSIONS[ext]
    image_file_parts(path)  # refuses layouts that could not be written back faithfully
    if kind == "nifti":  # geometry from ITK's header read, voxels from nibabel
        header = nifti.load(path)
        image = _read_sitk_information(path)
    else:
        image = _read_sitk(path)
    _check_layout(path, image)
    if kind == "nifti":
        shape = tuple(reversed(image.GetSize()))
        stored, encoding = nifti.read_stored(path, header, shape)
        _check_values(path, stored)
        array = encoding.to_native(stored)
    else:
        array = sitk.GetArrayFromImage(image)
        _check_values(path, array)
        encoding = StoredEncoding(stored_dtype=array.dtype)
    return Volume(
        array=array,
        geometry=geometry_of(image),
        encoding=encoding,
        format=kind,
        source=path,
        modality=guess_modality(array),
        metadata={key: image.GetMetaData(key) for key in image.GetMetaDataKeys()},
    )


def image_file_parts(path: Path) -> list[Path]:
    """The files of the image at ``path``, relative to its folder, header last."""
    kind = EXTENSIONS.get(image_extension(path) or "")
    if kind == "nrrd":
        return nrrd.nrrd_parts(path)
    if kind == "metaimage":
        return metaimage.metaimage_parts(path)
    return nifti.nifti_parts(path)


def stage_image_file(volume: Volume, staged: Path) -> list[Path]:
    """Write ``volume`` to ``staged`` (a path in a staging folder); returns the files written.

    When ``volume`` was read from a file of the same extension, that file's header is kept and
    only the voxel data is new; otherwise SimpleITK writes a new file from the geometry.
    """
    ext = image_extension(staged)
    if ext is None:
        raise InputError(staged, f"cannot write this format (use {KNOWN})")
    stored = volume.encoding.to_stored(volume.array)
    source = volume.source
    same_kind = source is not None and image_extension(source) in _SAME_LAYOUT[ext]
    if same_kind and EXTENSIONS[ext] == "nifti":
        return nifti.stage_nifti(stored, source, staged)
    if same_kind and EXTENSIONS[ext] == "nrrd":
        return nrrd.stage_nrrd(stored, source, staged)
    if same_kind and EXTENSIONS[ext] == "metaimage":
        return metaimage.stage_metaimage(stored, source, staged)
    if volume.encoding.is_scaled:
        raise InputError(staged, "a scaled image can only be written back to its own format")
    image = sitk.GetImageFromArray(stored)
    apply_geometry(image, volume.geometry)
    sitk.WriteImage(image, str(staged), useCompression=True)
    return [Path(staged.name)]


_SAME_LAYOUT = {
    ".nii.gz": {".nii.gz", ".nii"},
    ".nii": {".nii.gz", ".nii"},
    ".hdr": {".hdr"},
    ".nrrd": {".nrrd"},
    ".nhdr": {".nhdr"},
    ".mha": {".mha"},
    ".mhd": {".mhd"},
}


def geometry_of(image: sitk.Image | sitk.ImageFileReader) -> Geometry:
    return Geometry(
        spacing=tuple(image.GetSpacing()),
        origin=tuple(image.GetOrigin()),
        direction=tuple(image.GetDirection()),
    )


def apply_geometry(image: sitk.Image, geometry: Geometry) -> None:
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)


def guess_modality(array: np.ndarray) -> str:
    """'CT' when values reach air in Hounsfield units (about -1000), else 'unknown'.

    Single files carry no modality tag; the guess only chooses a default intensity window, and
    every report states which window was used.
    """
    if array.size and np.issubdtype(array.dtype, np.number) and float(np.min(array)) <= -900:
        return "CT"
    return "unknown"


@contextlib.contextmanager
def itk_warnings_off() -> Iterator[None]:
    """Silence ITK's warnings for one block, where a check of MedUE's own replaces them."""
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def _read_sitk(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(path, f"cannot be read as an image ({_short_reason(error)})") from None


def _read_sitk_information(path: Path) -> sitk.ImageFileReader:
    """ITK's view of the header (size, geometry, metadata) without reading the voxels."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise InputError(path, f"cannot be read as an image ({_short_reason(error)})") from None
    return reader


def _short_reason(error: RuntimeError) -> str:
    """ITK error texts run to many lines of C++ context; keep the last meaningful one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if any("truncat" in line.lower() or "premature" in line.lower() for line in lines):
        return "file is truncated"
    for line in reversed(lines):
        if not line.startswith(("itk::", "Description:", "Location:", "File:", "Line:", "Reason:")):
            return line[:200]
    return "truncated, corrupt or not an image"


def _check_layout(path: Path, image: sitk.Image | sitk.ImageFileReader) -> None:
    dims = image.GetDimension()
    if dims not in (2, 3):
        size = "x".join(str(s) for s in image.GetSize())
        raise InputError(path, f"is {dims}D ({size}); only 2D and 3D images are supported")
    if isinstance(image, sitk.Image):
        channels = image.GetNumberOfComponentsPerPixel()
    else:
        channels = image.GetNumberOfComponents()
    if channels != 1:
        raise InputError(path, f"has {channels} channels per voxel; only single-channel images")


def _check_values(path: Path, array: np.ndarray) -> None:
    if array.dtype not in SUPPORTED_DTYPES:
        names = ", ".join(str(t) for t in SUPPORTED_DTYPES)
        raise InputError(path, f"unsupported voxel type {array.dtype} (supported: {names})")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputError(path, f"contains {bad} NaN or infinite voxels")
