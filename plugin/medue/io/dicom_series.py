"""DICOM series in, DICOM series out: a protected copy is a NEW derived series, never an edit.

Pixels and geometry are read with SimpleITK (GDCM sorts slices by position and decodes compressed
transfer syntaxes); each slice's header is read with pydicom so the output can keep every tag of
its source slice. The output changes only what a derived series must: Series/SOP Instance UIDs,
ImageType DERIVED\\SECONDARY, a DerivationDescription naming MedUE and the method, the pixel data
(and the pixel-range tags that describe it). Stored values keep the source's rescale slope and
intercept, so a zero perturbation writes back bit-exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medue import __version__
from medue.errors import InputError
from medue.io.atomic import atomic_path
from medue.io.image_file import geometry_of
from medue.io.volume import StoredEncoding, Volume

_STORED_DTYPES = {(8, 0): "uint8", (8, 1): "int8", (16, 0): "uint16", (16, 1): "int16",
                  (32, 0): "uint32", (32, 1): "int32"}  # fmt: skip


def is_dicom_folder(path: str | Path) -> bool:
    """True if ``path`` is a folder holding at least one DICOM series GDCM can read."""
    path = Path(path)
    return path.is_dir() and bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path)))


def looks_like_dicom_folder(folder: str | Path) -> bool:
    """A readable series, or files claiming to be DICOM (so a broken one is reported)."""
    folder = Path(folder)
    if is_dicom_folder(folder):
        return True
    for path in folder.iterdir():
        if path.suffix.lower() == ".dcm":
            return True
        if path.is_file():
            with path.open("rb") as handle:
                if handle.read(132)[128:] == b"DICM":
                    return True
    return False


def read_dicom_series(folder: str | Path) -> Volume:
    """Load the single DICOM series in ``folder`` (native units after the modality rescale)."""
    folder = Path(folder)
    files = _series_files(folder)
    headers = [_read_header(f) for f in files]
    encoding = _encoding_of(folder, headers)
    image = _read_pixels(folder, files)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(folder, "only single-channel 3D DICOM series are supported")
    # Snap GDCM's rescaled output onto the stored grid: exact native values in a compact dtype.
    native = encoding.to_native(encoding.to_stored(sitk.GetArrayFromImage(image)))
    first = headers[0]
    return Volume(
        array=native,
        geometry=geometry_of(image),
        encoding=encoding,
        format="dicom",
        source=folder,
        modality=str(first.get("Modality", "unknown")),
        metadata={
            "files": [str(f) for f in files],
            "StudyInstanceUID": str(first.get("StudyInstanceUID", "")),
            "SeriesInstanceUID": str(first.get("SeriesInstanceUID", "")),
            "SeriesDescription": str(first.get("SeriesDescription", "")),
        },
    )


def write_dicom_series(volume: Volume, folder: str | Path, derivation: str) -> Path:
    """Write ``volume`` as a new derived series into ``folder`` (atomically, one file a slice).

    ``derivation`` says what was done (e.g. "UMed protection, eps 6 HU"); it is prefixed with
    "MedUE <version>" in DerivationDescription.
    """
    folder = Path(folder)
    sources = [Path(f) for f in volume.metadata.get("files", [])]
    if volume.format != "dicom" or len(sources) != volume.shape[0]:
        raise InputError(folder, "a DICOM series can only be written from a volume read from one")
    if sources and folder.resolve() == sources[0].parent.resolve():
        raise InputError(
            folder, "refusing to write over the original series; choose another folder"
        )
    stored = volume.encoding.to_stored(volume.array)
    series_uid = generate_uid()
    description = f"MedUE {__version__}: {derivation}"[:1024]
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for index, source in enumerate(sources):
            dataset = pydicom.dcmread(str(source))
            _derive_slice(dataset, stored[index], series_uid, description)
            dataset.save_as(str(tmp / source.name), write_like_original=False)
    return folder


def _series_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise InputError(folder, "folder does not exist")
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise InputError(folder, "no readable DICOM series in this folder")
    if len(series) > 1:
        raise InputError(folder, f"holds {len(series)} DICOM series; point at one series' folder")
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0]))


def _read_header(path: str) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # pydicom raises many types for damaged files
        raise InputError(path, f"unreadable DICOM header ({error})") from None


def _read_pixels(folder: Path, files: list[str]) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        return reader.Execute()
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1][:200]
        raise InputError(folder, f"DICOM pixel data cannot be decoded ({reason})") from None


def _encoding_of(folder: Path, headers: list[pydicom.Dataset]) -> StoredEncoding:
    """The stored dtype and rescale shared by every slice (mixed rescales are refused)."""
    first = headers[0]
    key = (int(first.get("BitsAllocated", 16)), int(first.get("PixelRepresentation", 0)))
    if key not in _STORED_DTYPES or int(first.get("SamplesPerPixel", 1)) != 1:
        raise InputError(folder, f"unsupported DICOM pixel layout (bits, signed) = {key}")
    rescales = {
        (float(h.get("RescaleSlope", 1.0)), float(h.get("RescaleIntercept", 0.0))) for h in headers
    }
    if len(rescales) != 1:
        raise InputError(folder, "slices use different rescale slopes/intercepts; not supported")
    slope, intercept = rescales.pop()
    return StoredEncoding(np.dtype(_STORED_DTYPES[key]), slope=slope, intercept=intercept)


def _derive_slice(dataset: FileDataset, pixels: np.ndarray, series_uid: str, description: str):
    """Turn one source slice into the matching slice of the derived series, in place."""
    sop_uid = generate_uid()
    dataset.SeriesInstanceUID = series_uid
    dataset.SOPInstanceUID = sop_uid
    dataset.file_meta.MediaStorageSOPInstanceUID = sop_uid
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.is_little_endian, dataset.is_implicit_VR = True, False
    image_type = list(dataset.get("ImageType", ["ORIGINAL", "PRIMARY"]))
    dataset.ImageType = ["DERIVED", "SECONDARY", *image_type[2:]]
    dataset.DerivationDescription = description
    dataset.PixelData = np.ascontiguousarray(pixels).tobytes()
    dataset["PixelData"].VR = "OW" if pixels.dtype.itemsize > 1 else "OB"
    for tag, value in (
        ("SmallestImagePixelValue", pixels.min()),
        ("LargestImagePixelValue", pixels.max()),
    ):
        if tag in dataset:
            setattr(dataset, tag, int(value))
