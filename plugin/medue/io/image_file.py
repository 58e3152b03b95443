"""Single-file volumes (NIfTI, NRRD, MetaImage) read and written with SimpleITK.

Reading checks what MedUE can protect (2D/3D, one channel, a supported dtype, finite values) and
turns every failure into one :class:`~medue.errors.InputError` naming the file. Writing keeps the
geometry and stored dtype of the source and goes through a temporary file (atomic).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel
import numpy as np
import SimpleITK as sitk

from medue.errors import InputError
from medue.io.atomic import atomic_path
from medue.io.volume import SUPPORTED_DTYPES, Geometry, StoredEncoding, Volume, VolumeFormat

sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK warnings are noise to users; errors raise

EXTENSIONS: dict[str, VolumeFormat] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}


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
        raise InputError(path, "not a supported image file (expected .nii, .nii.gz, .nrrd or .mha)")
    if not path.is_file():
        raise InputError(path, "file does not exist")
    if EXTENSIONS[ext] == "nifti":
        _check_nifti_payload(path)
    image = _read_sitk(path)
    _check_layout(path, image)
    array = sitk.GetArrayFromImage(image)
    _check_values(path, array)
    return Volume(
        array=array,
        geometry=geometry_of(image),
        encoding=StoredEncoding(stored_dtype=array.dtype),
        format=EXTENSIONS[ext],
        source=path,
        modality=guess_modality(array),
        metadata={key: image.GetMetaData(key) for key in image.GetMetaDataKeys()},
    )


def write_image_file(volume: Volume, path: str | Path) -> Path:
    """Write ``volume`` to ``path`` atomically, in the stored dtype, with the volume's geometry."""
    path = Path(path)
    if image_extension(path) is None:
        raise InputError(path, "cannot write this format (use .nii.gz, .nii, .nrrd or .mha)")
    image = sitk.GetImageFromArray(volume.encoding.to_stored(volume.array))
    apply_geometry(image, volume.geometry)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return path


def geometry_of(image: sitk.Image) -> Geometry:
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


def _read_sitk(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(path, f"cannot be read as an image ({_short_reason(error)})") from None


def _check_nifti_payload(path: Path) -> None:
    """Refuse a NIfTI file whose voxel data ends early or holds NaNs.

    ITK reads a truncated NIfTI (plain or gzipped) without complaint, filling the missing voxels
    with zeros, and turns NaNs into zeros too; protecting and publishing such a volume would
    silently corrupt the dataset. nibabel sees both.
    """
    try:
        nifti = nibabel.load(str(path))
        header = nifti.header
    except Exception:  # nibabel raises many types for non-NIfTI bytes
        raise InputError(path, "cannot be read as an image (not a valid NIfTI header)") from None
    shape = header.get_data_shape()
    expected = (
        int(header.get_data_offset()) + int(np.prod(shape)) * header.get_data_dtype().itemsize
    )
    try:
        available = _payload_size(path)
    except (OSError, EOFError):
        raise InputError(path, "cannot be read as an image (file is truncated)") from None
    if available < expected:
        raise InputError(
            path, f"cannot be read as an image (file is truncated: {available} of {expected} bytes)"
        )
    if np.issubdtype(header.get_data_dtype(), np.floating):
        _check_values(path, np.asarray(nifti.dataobj))


def _payload_size(path: Path) -> int:
    """Bytes of (decompressed) content; a cut gzip stream raises EOFError."""
    if not path.name.lower().endswith(".gz"):
        return path.stat().st_size
    total = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1 << 22):
            total += len(chunk)
    return total


def _short_reason(error: RuntimeError) -> str:
    """ITK error texts run to many lines of C++ context; keep the last meaningful one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if any("truncat" in line.lower() or "premature" in line.lower() for line in lines):
        return "file is truncated"
    for line in reversed(lines):
        if not line.startswith(("itk::", "Description:", "Location:", "File:", "Line:", "Reason:")):
            return line[:200]
    return "truncated, corrupt or not an image"


def _check_layout(path: Path, image: sitk.Image) -> None:
    dims = image.GetDimension()
    if dims not in (2, 3):
        size = "x".join(str(s) for s in image.GetSize())
        raise InputError(path, f"is {dims}D ({size}); only 2D and 3D images are supported")
    if image.GetNumberOfComponentsPerPixel() != 1:
        channels = image.GetNumberOfComponentsPerPixel()
        raise InputError(path, f"has {channels} channels per voxel; only single-channel images")


def _check_values(path: Path, array: np.ndarray) -> None:
    if array.dtype not in SUPPORTED_DTYPES:
        names = ", ".join(str(t) for t in SUPPORTED_DTYPES)
        raise InputError(path, f"unsupported voxel type {array.dtype} (supported: {names})")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputError(path, f"contains {bad} NaN or infinite voxels")
