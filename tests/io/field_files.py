"""Tiny files of the kinds that come from the field, written without MedUE (nibabel, raw bytes).

Each builder writes what a converter or scanner would: the header is made field by field, the
voxel data appended as the format says, so the tests can check MedUE's output against a source
MedUE did not write. ``protect_folder`` runs a protect job on a folder the way the CLI does, with
the cheap ``random`` method so the tests measure the I/O, not the fitting. NRRD and MetaImage
sources are written as header text plus raw or compressed data, as teem, Slicer or ITK would.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel
import numpy as np

from medue.budget import BudgetRequest
from medue.datasets import discover_cases
from medue.job import ProtectSettings, protect_dataset

SHAPE_XYZ = (16, 12, 6)


def phantom(shape_xyz=(16, 12, 6), low=100, high=300, seed=0) -> np.ndarray:
    """Random stored values in [low, high], x-y-z axes (as NIfTI stores them)."""
    return np.random.default_rng(seed).integers(low, high, size=shape_xyz)


def cube_label(shape_xyz=(16, 12, 6)) -> np.ndarray:
    """A uint8 label with a box of 1s in the middle (the ROI)."""
    label = np.zeros(shape_xyz, np.uint8)
    x, y, z = (s // 4 for s in shape_xyz)
    label[x : 3 * x + 1, y : 3 * y + 1, z : 3 * z + 1] = 1
    return label


def write_nifti(
    path: Path,
    stored_xyz: np.ndarray,
    dtype: str = "int16",
    *,
    slope: float = float("nan"),
    inter: float = 0.0,
    qform: np.ndarray | None = None,
    qform_code: int = 1,
    sform: np.ndarray | None = None,
    sform_code: int = 1,
    version: int = 1,
    endian: str = "<",
    descrip: bytes = b"",
    intent_code: int = 0,
    extension: bytes | None = None,
    xyzt_units: int = 10,
) -> Path:
    """A NIfTI file built field by field, data appended x-fastest at ``vox_offset``."""
    header_class = nibabel.Nifti1Header if version == 1 else nibabel.Nifti2Header
    header = header_class(endianness=endian)
    header.set_data_shape(stored_xyz.shape)
    header.set_data_dtype(np.dtype(dtype))
    affine = np.diag([0.7, 0.8, 2.5, 1.0])
    affine[:3, 3] = (-12.0, 30.5, 7.25)
    header.set_zooms((0.7, 0.8, 2.5) + (1.0,) * (stored_xyz.ndim - 3))
    header.set_qform(affine if qform is None else qform, code=qform_code)
    header.set_sform(affine if sform is None else sform, code=sform_code)
    header["scl_slope"], header["scl_inter"] = slope, inter
    header["descrip"], header["intent_code"], header["xyzt_units"] = (
        descrip,
        intent_code,
        xyzt_units,
    )
    if extension is not None:
        header.extensions.append(nibabel.nifti1.Nifti1Extension("comment", extension))
    base = (352 if version == 1 else 544) + sum(e.get_sizeondisk() for e in header.extensions)
    offset = -(-base // 16) * 16
    header.set_data_offset(offset)
    data = np.asarray(stored_xyz).astype(header.get_data_dtype()).tobytes(order="F")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as stream:
        header.write_to(stream)
        stream.write(b"\0" * (offset - base))
        stream.write(data)
    return path


def nifti_header_bytes(path: Path) -> bytes:
    """A NIfTI file's bytes before its voxel data (header and extensions)."""
    image = nibabel.load(str(path))
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as stream:
        return stream.read(int(image.dataobj.offset))


def stored_xyz(path: Path) -> np.ndarray:
    """Raw stored NIfTI values (no scaling), read by nibabel."""
    return np.asarray(nibabel.load(str(path)).dataobj.get_unscaled())


def nrrd_header(dtype: str, endian: str, encoding: str, data_file: str | None) -> bytes:
    lines = [
        "NRRD0005",
        "# written by a scanner export, not by MedUE",
        f"type: {dtype}",
        "dimension: 3",
        "space: right-anterior-superior",
        f"sizes: {' '.join(map(str, SHAPE_XYZ))}",
        "space directions: (0.7,0,0) (0,0.8,0) (0,0,2.5)",
        "kinds: domain domain domain",
        f"endian: {endian}",
        f"encoding: {encoding}",
        'space units: "mm" "mm" "mm"',
        "space origin: (-12,30.5,7.25)",
        "measurement frame: (1,0,0) (0,1,0) (0,0,1)",
        "Segment0_Name:=tumour",
    ]
    if data_file is not None:
        lines.append(f"data file: {data_file}")
    return ("\n".join(lines) + "\n").encode()


def write_nrrd(path: Path, values: np.ndarray, dtype="short", endian="little", encoding="gzip",
               data_file: str | None = None) -> Path:  # fmt: skip
    numpy_type = {"short": "i2", "unsigned char": "u1", "float": "f4"}[dtype]
    raw = values.astype(("<" if endian == "little" else ">") + numpy_type).tobytes(order="F")
    data = {"gzip": lambda b: gzip.compress(b, mtime=0), "raw": lambda b: b}[encoding](raw)
    header = nrrd_header(dtype, endian, encoding, data_file)
    if data_file is None:
        path.write_bytes(header + b"\n" + data)
    else:
        (path.parent / data_file).parent.mkdir(parents=True, exist_ok=True)
        (path.parent / data_file).write_bytes(data)
        path.write_bytes(header)
    return path


def mhd_header(element_type: str, msb: bool, compressed: bool, data_file: str, size=0) -> bytes:
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        "BinaryData = True",
        f"BinaryDataByteOrderMSB = {msb}",
        f"CompressedData = {compressed}",
        *([f"CompressedDataSize = {size}"] if compressed else []),
        "TransformMatrix = 1 0 0 0 1 0 0 0 1",
        "Offset = -12 30.5 7.25",
        "AnatomicalOrientation = RAI",
        "ElementSpacing = 0.7 0.8 2.5",
        f"DimSize = {' '.join(map(str, SHAPE_XYZ))}",
        "Modality = MET_MOD_MR",
        f"ElementType = {element_type}",
        f"ElementDataFile = {data_file}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()  # Windows line endings, kept as they are


def write_metaimage(path: Path, values: np.ndarray, element_type="MET_SHORT", msb=False,
                    compressed=False, data_file: str = "LOCAL") -> Path:  # fmt: skip
    numpy_type = {"MET_SHORT": "i2", "MET_UCHAR": "u1", "MET_USHORT": "u2"}[element_type]
    data = values.astype((">" if msb else "<") + numpy_type).tobytes(order="F")
    data = zlib.compress(data) if compressed else data
    header = mhd_header(element_type, msb, compressed, data_file, len(data))
    if data_file == "LOCAL":
        path.write_bytes(header + data)
    else:
        (path.parent / data_file).write_bytes(data)
        path.write_bytes(header)
    return path


def protect_folder(folder: Path, out: Path, epsilon: float | None = None, method: str = "random"):
    """``medue protect FOLDER OUT --method random [--epsilon E]`` through the job engine."""
    budget = BudgetRequest(preset=None, epsilon=epsilon) if epsilon else BudgetRequest()
    settings = ProtectSettings(method=method, budget=budget)
    return protect_dataset(folder, discover_cases(folder), out, settings)
