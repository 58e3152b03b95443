"""Which files of a folder are DICOM images, and which image series they make up.

A folder from the field holds more than the image series: RT Structure Sets, RT Plans and RT Dose
grids, Structured Reports, Segmentations, presentation states, a DICOMDIR, a README. The folder is
listed from each file's header alone (pydicom, ``stop_before_pixels``) and every object is sorted
by its SOP Class UID (PS3.4 annex B, the Storage SOP Classes): image storage classes are kept and
grouped by Series Instance UID (PS3.3 section C.7.3.1, General Series module); every other object
is skipped and named ("rtdose.dcm: RT Dose Storage"), even RT Dose, which has pixel data but is a
dose grid, not an image to protect. Files that are not DICOM at all, and the DICOMDIR media index
(PS3.10 section 8), are ignored.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from medue.errors import InputError, NotAnImage

_STORAGE = "1.2.840.10008.5.1.4.1.1."
IMAGE_STORAGE = frozenset(
    _STORAGE + suffix
    for suffix in (
        "1", "1.1", "1.1.1", "1.2", "1.2.1", "1.3", "1.3.1",  # CR, DX, mammography, intra-oral
        "2", "2.1", "2.2",  # CT, Enhanced CT, Legacy Converted Enhanced CT
        "4", "4.1", "4.3", "4.4",  # MR, Enhanced MR, Enhanced MR Color, Legacy Converted MR
        "128", "128.1", "130",  # PET, Legacy Converted Enhanced PET, Enhanced PET
        "20", "5",  # Nuclear Medicine (current and retired)
        "6", "6.1", "6.2", "3", "3.1",  # ultrasound, enhanced US volume, US multi-frame
        "7", "7.1", "7.2", "7.3", "7.4",  # secondary capture, single and multi-frame
        "12.1", "12.1.1", "12.2", "12.2.1", "12.3",  # X-ray angiography and radiofluoroscopy
        "13.1.1", "13.1.2", "13.1.3", "13.1.4", "13.1.5",  # 3D X-ray, breast tomosynthesis
        "14.1", "14.2",  # intravascular OCT
        "77.1.1", "77.1.2", "77.1.3", "77.1.4", "77.1.5.1", "77.1.5.2", "77.1.5.4",  # VL, eye
    )
)  # fmt: skip
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"  # the DICOMDIR's Media Storage Directory SOP Class


@dataclass
class FolderListing:
    """The DICOM content of one folder: image files by series, and what was left out."""

    series: dict[str, list[tuple[Path, Dataset]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "file: SOP class name" (not images)
    unreadable: list[str] = field(default_factory=list)  # "file: why" (claims DICOM, fails)


def list_dicom_folder(folder: Path, first_image_only: bool = False) -> FolderListing:
    """Sort the files directly in ``folder`` into image series, skipped objects and bad files.

    With ``first_image_only`` the listing stops at the first image file (enough to know the
    folder holds a series).
    """
    listing = FolderListing()
    for path in _candidate_files(folder):
        header, problem = read_header(path)
        if header is None:
            if problem:
                listing.unreadable.append(f"{path.name}: {problem}")
            continue
        sop_class = sop_class_of(header)
        if sop_class == MEDIA_DIRECTORY:
            continue
        if not sop_class:
            listing.unreadable.append(f"{path.name}: damaged DICOM header (no SOP Class UID)")
            continue
        if sop_class not in IMAGE_STORAGE:
            listing.skipped.append(f"{path.name}: {sop_class_name(sop_class)}")
            continue
        uid = str(header.get("SeriesInstanceUID", ""))
        listing.series.setdefault(uid, []).append((path, header))
        if first_image_only:
            break
    return listing


def is_dicom_folder(path: str | Path) -> bool:
    """True if ``path`` is a folder holding at least one DICOM image file (never raises)."""
    path = Path(path)
    try:
        return path.is_dir() and bool(list_dicom_folder(path, first_image_only=True).series)
    except OSError:
        return False


def looks_like_dicom_folder(folder: str | Path) -> bool:
    """Image files, files claiming to be DICOM that cannot be read (so a broken series is
    reported), or, in a folder with no sub-folders, non-image objects only (so an RT Structure
    Set exported to its own folder is named as left out). A dataset folder with a stray RT file
    beside its series sub-folders is not a series folder."""
    folder = Path(folder)
    try:
        listing = list_dicom_folder(folder, first_image_only=True)
    except OSError:
        return False
    if listing.series or listing.unreadable:
        return True
    return bool(listing.skipped) and not any(p.is_dir() for p in folder.iterdir())


def series_files(folder: Path) -> tuple[list[tuple[Path, Dataset]], list[str]]:
    """The files and headers of the one image series in ``folder``, and the skipped objects."""
    if not folder.is_dir():
        raise InputError(folder, "folder does not exist")
    listing = list_dicom_folder(folder)
    if not listing.series and listing.skipped and not listing.unreadable:
        shown = "; ".join(listing.skipped[:3])
        more = f"; {len(listing.skipped) - 3} more" if len(listing.skipped) > 3 else ""
        raise NotAnImage(folder, f"holds no image to protect, only {shown}{more}")
    if not listing.series:
        found = listing.skipped + listing.unreadable
        shown = "; ".join(found[:3]) + (f"; {len(found) - 3} more" if len(found) > 3 else "")
        raise InputError(
            folder, "no readable DICOM series in this folder" + (f" ({shown})" if found else "")
        )
    if len(listing.series) > 1:
        names = ", ".join(_describe_series(files) for files in listing.series.values())
        raise InputError(
            folder,
            f"holds {len(listing.series)} DICOM series ({names}); "
            "put each series in its own folder",
        )
    [files] = listing.series.values()
    return files, listing.skipped + listing.unreadable


def read_header(path: Path) -> tuple[Dataset | None, str]:
    """The header of ``path`` without pixel data; (None, reason) if it is not readable DICOM.

    The reason is empty for files that do not claim to be DICOM at all (a README, notes): those
    are not reported. Files without the PS3.10 preamble (old exports) are accepted when they
    parse to a dataset with a SOP Class UID.
    """
    claims = _claims_dicom(path)
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True), ""
    except InvalidDicomError:
        header = _read_without_preamble(path) if _may_lack_preamble(path) else None
        if header is not None:
            return header, ""
        return None, "damaged DICOM file (no readable header)" if claims else ""
    except Exception as error:  # pydicom raises many types for damaged files
        return None, f"unreadable DICOM header ({_first_line(error)})" if claims else ""


def read_dataset(path: Path) -> Dataset:
    """The whole file, pixel data included (also without the PS3.10 preamble)."""
    try:
        try:
            dataset = pydicom.dcmread(str(path))
        except InvalidDicomError:
            dataset = pydicom.dcmread(str(path), force=True)
    except Exception as error:  # pydicom raises many types for damaged files
        raise InputError(path, f"unreadable DICOM file ({_first_line(error)})") from None
    if "TransferSyntaxUID" not in dataset.file_meta:  # pydicom needs it to decode pixels
        dataset.file_meta.TransferSyntaxUID = transfer_syntax(dataset)
    return dataset


def transfer_syntax(dataset: Dataset) -> str:
    """The file's Transfer Syntax UID; guessed from the encoding when there is no file meta."""
    meta = getattr(dataset, "file_meta", None) or Dataset()
    if "TransferSyntaxUID" in meta:
        return str(meta.TransferSyntaxUID)
    if not getattr(dataset, "is_little_endian", True):
        return "1.2.840.10008.1.2.2"  # Explicit VR Big Endian
    explicit = getattr(dataset, "is_implicit_VR", True) is False
    return "1.2.840.10008.1.2.1" if explicit else "1.2.840.10008.1.2"


def sop_class_of(header: Dataset) -> str:
    meta = getattr(header, "file_meta", None) or Dataset()
    return str(header.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID", ""))


def sop_class_name(uid: str) -> str:
    """'RT Dose Storage' for its UID; the UID itself when pydicom does not know it."""
    name = UID(uid).name if uid else ""
    return name if name and name != uid else f"SOP Class {uid or 'missing'}"


def _candidate_files(folder: Path) -> list[Path]:
    """Files directly in ``folder``, without hidden files and the DICOMDIR media index."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )  # fmt: skip


def _claims_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _may_lack_preamble(path: Path) -> bool:
    """Old exports without the PS3.10 preamble are named 'IM0001', 'x.dcm' or by their UID."""
    suffix = path.suffix.lower()
    return suffix in ("", ".dcm", ".dicom", ".ima") or suffix[1:].isdigit()


def _read_without_preamble(path: Path) -> Dataset | None:
    with contextlib.suppress(Exception):
        header = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
        if "SOPInstanceUID" in header and UID(str(header.get("SOPClassUID", ""))).is_valid:
            return header
    return None


def _describe_series(files: list[tuple[Path, Dataset]]) -> str:
    """'series 3 MR 't1_mprage' (UID ...4567): 176 files, e.g. IM0001.dcm' for a person."""
    header = files[0][1]
    number = header.get("SeriesNumber", "")
    description = str(header.get("SeriesDescription", "")).strip()
    label = f"series {number}" if number not in ("", None) else "series"
    label += f" {header.get('Modality', '')}".rstrip()
    label += f" '{description}'" if description else ""
    label += f" (UID ...{str(header.get('SeriesInstanceUID', ''))[-8:]})"
    return f"{label}: {len(files)} files, e.g. {files[0][0].name}"


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:160]
