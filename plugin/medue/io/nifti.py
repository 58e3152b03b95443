"""NIfTI-1 files read as stored, written back with the source header byte for byte.

A NIfTI file is a header (with optional extensions) up to ``vox_offset``, then the voxel data in
the header's datatype and byte order, x fastest (NIfTI-1 standard, nifti1.h). Converters store CT
as int16 with ``scl_slope``/``scl_inter``; some keep qform and sform as *different* transforms, or
set both codes to 0; many carry singleton dimensions, intent codes, descriptions and extensions.
Rebuilding such a header (as ITK's writer does) moves images away from their labels for some
readers, so MedUE never rebuilds it: the written file is the source's header bytes followed by
new voxel data of the same datatype, scaling and byte order.

The NIfTI-1 pair (``.hdr`` header + ``.img`` data, same layout with the data in its own file) is
kept the same way: the header file is copied, the data file written under its own name. Analyze
7.5 headers (a ``.hdr`` without the NIfTI magic) carry no reliable orientation and are refused.

Voxels are read with nibabel (stored values, then the header's scaling applied here, so the
stored grid is known exactly); geometry is read with SimpleITK by the caller, as for labels.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel
import numpy as np

from medue.errors import InputError
from medue.io.volume import StoredEncoding

GZIP_LEVEL = 6


def load(path: Path) -> nibabel.Nifti1Image:
    """The NIfTI image at ``path`` (data not yet read); refuses what nibabel cannot parse.

    Its ``dataobj`` holds the file's own layout: ``offset`` (vox_offset), ``dtype`` (with byte
    order), ``slope``/``inter`` (scl_slope/scl_inter; nibabel's ``header`` copy has them reset).
    """
    _check_compression_matches_name(path)
    try:
        image = nibabel.load(str(path))
    except Exception:  # nibabel raises many types for non-NIfTI bytes
        raise InputError(path, "cannot be read as an image (not a valid NIfTI header)") from None
    if isinstance(image, nibabel.Nifti2Image):
        raise InputError(
            path, "NIfTI-2 is not supported (SimpleITK reads no NIfTI-2 geometry); use NIfTI-1"
        )
    if not isinstance(image, nibabel.Nifti1Image | nibabel.Nifti1Pair):
        raise InputError(
            path, "not a NIfTI-1 image (an Analyze 7.5 header has no reliable orientation)"
        )
    return image


def _check_compression_matches_name(path: Path) -> None:
    """A ``.nii.gz`` that is not gzip-compressed, or a gzipped ``.nii``: say so, by name."""
    with path.open("rb") as stream:
        start = stream.read(348)
    gzipped = start[:2] == b"\x1f\x8b"
    plain_nifti = start[344:348] in (b"n+1\0", b"ni1\0")
    named = path.name.lower().endswith(".gz")
    if (named and plain_nifti) or (gzipped and not named):
        fix = "rename it without .gz" if named else "rename it to .nii.gz"
        state = "is not gzip-compressed" if named else "is gzip-compressed"
        raise InputError(path, f"the file {state}, but its name says otherwise; {fix}")


def data_file(path: Path) -> Path:
    """The file holding the voxel data: the file itself, or the .img beside a pair's .hdr."""
    if path.name.lower().endswith(".hdr"):
        return path.with_name(path.name[:-4] + (".img" if path.name.endswith(".hdr") else ".IMG"))
    return path


def nifti_parts(path: Path) -> list[Path]:
    """The files of a NIfTI image relative to its folder, header last."""
    data = data_file(path)
    if data == path:
        return [Path(path.name)]
    if not data.is_file():
        raise InputError(path, f"NIfTI pair data file '{data.name}' does not exist")
    return [Path(data.name), Path(path.name)]


def read_stored(path: Path, image: nibabel.Nifti1Image, shape_zyx: tuple[int, ...]):
    """Stored voxel values (z, y, x) and their encoding; refuses truncated data.

    Returns ``(stored, encoding)``. ``shape_zyx`` is the grid the geometry reader found (singleton
    dimensions dropped); it must hold the same number of voxels as the header's dimensions.
    """
    proxy = image.dataobj
    dtype = proxy.dtype
    expected = int(proxy.offset) + int(np.prod(proxy.shape)) * dtype.itemsize
    try:
        available = _payload_size(data_file(path))
    except (OSError, EOFError, gzip.BadGzipFile):
        raise InputError(path, "cannot be read as an image (file is truncated)") from None
    if available < expected:
        raise InputError(
            path, f"cannot be read as an image (file is truncated: {available} of {expected} bytes)"
        )
    raw = np.asanyarray(proxy.get_unscaled())
    if raw.size != int(np.prod(shape_zyx)):
        raise InputError(path, f"NIfTI dimensions {raw.shape} do not match the image grid")
    stored = raw.ravel(order="F").reshape(shape_zyx)
    stored = stored.astype(stored.dtype.newbyteorder("="), copy=False)
    return stored, _encoding(path, proxy, stored.dtype)


def _encoding(path: Path, proxy, dtype: np.dtype) -> StoredEncoding:
    """The scaling NIfTI-1 defines: applied when scl_slope is finite and nonzero (nibabel's)."""
    slope, intercept = float(proxy.slope), float(proxy.inter)
    try:
        return StoredEncoding(dtype, slope=slope, intercept=intercept)
    except ValueError as error:
        raise InputError(path, f"unusable NIfTI scaling ({error})") from None


def stage_nifti(stored: np.ndarray, source: Path, staged: Path) -> list[Path]:
    """Write ``source``'s header and extensions, then ``stored`` (z, y, x), to ``staged``.

    The datatype and byte order are the header's; compression follows ``staged``'s name
    (``.nii.gz`` or ``.nii``). Returns the written file's name, relative to its folder.
    """
    proxy = load(source).dataobj
    offset, dtype = int(proxy.offset), proxy.dtype
    if stored.dtype.kind != dtype.kind or stored.dtype.itemsize != dtype.itemsize:
        raise InputError(source, f"cannot store {stored.dtype} voxels in this {dtype} NIfTI file")
    source_data, staged_data = data_file(source), data_file(staged)
    with _open(source_data, "rb") as stream:
        head = stream.read(offset)
        stream.seek(offset + stored.size * dtype.itemsize)
        tail = stream.read()  # bytes after the voxel data, kept (rare, but part of the file)
    payload = head + np.ascontiguousarray(stored).astype(dtype, copy=False).tobytes() + tail
    if staged_data.name.lower().endswith(".gz"):
        with gzip.GzipFile(staged_data, "wb", compresslevel=GZIP_LEVEL, mtime=0) as stream:
            stream.write(payload)
    else:
        staged_data.write_bytes(payload)
    if staged_data == staged:
        return [Path(staged.name)]
    staged.write_bytes(source.read_bytes())  # the pair's header file, as it is
    return [Path(staged_data.name), Path(staged.name)]


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.name.lower().endswith(".gz") else path.open(mode)


def _payload_size(path: Path) -> int:
    """Bytes of (decompressed) content; a cut gzip stream raises EOFError."""
    if not path.name.lower().endswith(".gz"):
        return path.stat().st_size
    total = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1 << 22):
            total += len(chunk)
    return total
