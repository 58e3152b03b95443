"""Classification datasets: one class name per image (a 2D image or a volume). Two layouts:

1. A CSV listing the images: the one given with ``csv``, or else the only ``*.csv`` at the top of
   the dataset folder. Its header row has the columns ``image`` and ``label`` (any letter case,
   spaces around them ignored, other columns ignored; separated by commas, semicolons or tabs).
   ``image`` is a path relative to the CSV's folder (or absolute) to an image file (NIfTI, NRRD,
   MetaImage) or to a DICOM series folder; ``label`` is its class. Only the images listed belong
   to the dataset. Rows are numbered as a spreadsheet shows them (the header is row 1).
2. Otherwise one sub-folder per class, named after its class: every image file and every DICOM
   series folder in it, at any depth, is one image of that class.

Hidden files and folders, and files that are not images (READMEs, JSON), are ignored. A class is
a name or an integer: surrounding spaces are dropped and integers written canonically ("03" and
"3" are class "3"); a CSV label that is empty or a non-integer number ("2.5", "nan") is refused.
An image's id is its path below the dataset folder, extension dropped, parts joined by "_"
(``benign/p1/scan.nii.gz`` is ``benign_p1_scan``). A problem with one image (a CSV row naming a
missing file, a repeated row, a bad label, a class folder with no images, two images with one id)
is set as its :class:`Case`'s ``problem``, so the caller reports it and processes the others; a
problem with the whole dataset raises :class:`~medue.errors.InputError`.
"""

from __future__ import annotations

import csv as csv_module
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from medue.datasets import Case, _refuse_shared_files
from medue.errors import InputError
from medue.io import image_extension, looks_like_dicom_folder, strip_extension
from medue.io.image_file import KNOWN

_INTEGER = re.compile(r"[+-]?\d{1,300}")  # int() refuses longer strings
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class _Entry:
    case: Case  # its problem, if any, still without ``prefix``
    where: str  # names the entry in another entry's message: "row 4 (a.nii.gz)", "benign/a.nii.gz"
    prefix: str = ""  # put before the entry's problem: "labels.csv row 4: "


def discover_classified(folder: str | Path, csv: str | Path | None = None) -> list[Case]:
    """All images of the classification dataset in ``folder``, with their classes, sorted by id.

    ``csv`` is the CSV listing the images (a relative path is taken from the working folder, or
    else from ``folder``); without it ``folder``'s only top-level CSV is used if there is one, and
    class sub-folders if there is none. Each :class:`Case` has ``category`` set to its class and
    ``label`` None; images refused while listing carry a ``problem``. Raises ``InputError`` when
    the dataset as a whole is unusable (no image usable, fewer than two classes, no layout).
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(folder, "path does not exist")
    if not folder.is_dir():
        raise InputError(folder, "not a folder")
    table = _find_csv(folder, csv)
    listed = _refuse_shared_ids(_csv_entries(folder, table) if table else _folder_entries(folder))
    usable = _refuse_shared_files([c for c in listed if not c.problem])  # repeats share files
    cases = [c for c in listed if c.problem] + usable
    cases.sort(key=lambda case: (case.image_id, str(case.image)))
    if all(case.problem for case in cases):
        first = cases[0]
        raise InputError(
            table or folder,
            f"no usable image: all {len(cases)} refused (the first: {first.image.name}: "
            f"{first.problem})",
        )
    names = class_names(cases)
    if len(names) < 2:
        raise InputError(
            table or folder,
            f"a classification dataset needs at least two classes; found only '{names[0]}'",
        )
    return cases


def class_names(cases: Sequence[Case]) -> tuple[str, ...]:
    """The distinct classes of the cases without a problem, sorted: integers by value, then
    names alphabetically (``("2", "10", "benign")``)."""
    names = {c.category for c in cases if c.problem is None and c.category is not None}
    return tuple(sorted(names, key=lambda n: (0, int(n), "") if _is_integer(n) else (1, 0, n)))


def _is_integer(text: str) -> bool:
    return _INTEGER.fullmatch(text) is not None


def _class_name(text: str) -> str:
    """``text`` as a class: spaces dropped, integers canonical ("03" -> "3")."""
    text = text.strip()
    return str(int(text)) if _is_integer(text) else text


def _label_problem(text: str) -> str | None:
    """Why a CSV label is not a class, or None."""
    text = text.strip()
    if not text:
        return "label is empty"
    if _is_integer(text):
        return None
    try:
        float(text)
    except ValueError:
        return None
    return (
        f"label '{text}' is neither a class name nor an integer "
        "(decimal numbers, nan and inf are refused)"
    )


def _find_csv(folder: Path, csv: str | Path | None) -> Path | None:
    if csv is not None:
        path = Path(csv)
        if not path.is_absolute() and not path.exists() and (folder / path).exists():
            path = folder / path
        if not path.exists():
            raise InputError(path, "CSV file does not exist")
        if not path.is_file():
            raise InputError(path, "not a file (expected the CSV listing the images)")
        return path
    found = sorted(
        p for p in folder.iterdir()
        if p.suffix.lower() == ".csv" and not p.name.startswith(".") and p.is_file()
    )  # fmt: skip
    if len(found) > 1:
        raise InputError(
            folder,
            f"holds {len(found)} CSV files ({', '.join(p.name for p in found)}); pass the one "
            "listing the images and their labels with --classes FILE",
        )
    return found[0] if found else None


def _read_table(table: Path) -> tuple[int, list[str], list[list[str]]]:
    """The header row's index, its cell names (lower case) and all rows of ``table``."""
    try:
        with open(table, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except UnicodeDecodeError:
        raise InputError(table, "not a readable CSV file (not UTF-8 text)") from None
    except OSError as error:
        raise InputError(table, f"cannot be read ({error.strerror or error})") from None
    if not text.strip():
        raise InputError(table, "CSV file is empty")
    for delimiter in _DELIMITERS:
        try:
            rows = list(csv_module.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv_module.Error as error:
            raise InputError(table, f"not a readable CSV file ({error})") from None
        start = next((i for i, row in enumerate(rows) if any(c.strip() for c in row)), 0)
        header = [cell.strip().lower() for cell in rows[start]]
        if "image" in header and "label" in header:
            return start, header, rows
    raise InputError(
        table,
        "has no 'image' and 'label' columns in its header row (found: "
        f"{text.strip().splitlines()[0][:80]})",
    )


def _csv_entries(folder: Path, table: Path) -> list[_Entry]:
    start, header, rows = _read_table(table)
    image_at, label_at = header.index("image"), header.index("label")
    first: dict[Path, tuple[int, str]] = {}  # an image's first row: its number and label
    conflicts: dict[Path, str] = {}  # first rows whose image a later row gives another label
    entries = []
    for number, row in enumerate(rows[start + 1 :], start + 2):
        cells = [cell.strip() for cell in row] + [""] * len(header)
        if not any(cells):
            continue
        name, label = cells[image_at], cells[label_at]
        prefix, category = f"{table.name} row {number}: ", _class_name(label)
        category = None if _label_problem(label) else category
        if not name:
            case = Case(f"(row {number})", table, problem="no image given", category=category)
            entries.append(_Entry(case, f"row {number}", prefix))
            continue
        path = Path(name) if Path(name).is_absolute() else table.parent / name
        image_id = _image_id(_relative(path, (folder, table.parent)))
        problem = _image_problem(path)
        key = path.resolve() if problem is None else path
        if problem is None and key in first:
            row_first, label_first = first[key]
            image_id = f"{image_id} (row {number})"  # keeps the first row's id its own
            same = _class_name(label_first) == _class_name(label)
            problem = f"repeats the image of row {row_first}" + (
                " (same label)"
                if same
                else f" with a different label ('{label_first}' there, '{label}' here)"
            )
            if not same:
                conflicts.setdefault(
                    key, f"row {number} gives it another label ('{label}'); which class is right?"
                )
        first.setdefault(key, (number, label))
        case = Case(image_id, path, problem=problem or _label_problem(label), category=category)
        entries.append(_Entry(case, f"row {number} ({name})", prefix))
    if not entries:
        raise InputError(table, "the CSV lists no images (it has a header row and no rows)")
    return [_refuse_conflict(entry, conflicts) for entry in entries]


def _refuse_conflict(entry: _Entry, conflicts: dict[Path, str]) -> _Entry:
    """A first row whose image a later row labels differently is refused too: neither label can
    be trusted, so the image is not released under either."""
    case = entry.case
    if case.problem is not None or not conflicts:
        return entry
    conflict = conflicts.get(case.image.resolve())
    return entry if conflict is None else replace(entry, case=replace(case, problem=conflict))


def _image_problem(path: Path) -> str | None:
    """Why ``path`` (from a CSV row) is not an image, or None."""
    if not path.exists():
        return "does not exist"
    if path.is_dir():
        if looks_like_dicom_folder(path):
            return None
        return "folder holds no DICOM series (name an image file or a DICOM series folder)"
    if image_extension(path) is None:
        hint = "; for DICOM name the series folder" if path.suffix.lower() == ".dcm" else ""
        return f"not an image file (expected {KNOWN}, or a DICOM series folder){hint}"
    return None


def _folder_entries(folder: Path) -> list[_Entry]:
    top = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    class_folders = [p for p in top if p.is_dir()]
    if not class_folders:
        raise InputError(
            folder,
            "no CSV file and no class sub-folders: a classification dataset needs a CSV with "
            "'image' and 'label' columns or one sub-folder per class",
        )
    entries = [
        _Entry(Case(strip_extension(p), p, problem="image is not in a class sub-folder"), p.name)
        for p in top
        if p.is_file() and image_extension(p)
    ]
    for class_folder in class_folders:
        category = _class_name(class_folder.name)
        images = _images_below(class_folder)
        for image in images:
            relative = image.relative_to(folder)
            case = Case(_image_id(relative), image, category=category)
            entries.append(_Entry(case, relative.as_posix()))
        if not images:
            problem = f"class folder '{class_folder.name}' holds no images"
            case = Case(f"{class_folder.name}_(no images)", class_folder, None, problem, category)
            entries.append(_Entry(case, class_folder.name))
    return entries


def _images_below(folder: Path) -> list[Path]:
    """Image files and DICOM series folders in ``folder`` (itself included), at any depth."""
    found = [folder] if looks_like_dicom_folder(folder) else []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if path.is_dir():
            found += _images_below(path)
        elif image_extension(path) and path.is_file():
            found.append(path)
    return found


def _relative(path: Path, bases: Sequence[Path]) -> Path:
    """``path`` below the first of ``bases`` that holds it; its name alone if none does."""
    absolute = Path(os.path.normpath(path.absolute()))
    for base in bases:
        try:
            relative = absolute.relative_to(os.path.normpath(base.absolute()))
        except ValueError:
            continue
        if relative.parts:
            return relative
    return Path(absolute.name)


def _image_id(relative: Path) -> str:
    parts = list(relative.parts)
    if image_extension(parts[-1]):
        parts[-1] = strip_extension(parts[-1])
    return "_".join(parts)


def _refuse_shared_ids(entries: list[_Entry]) -> list[Case]:
    """The entries' cases, each problem prefixed; two images with one id would share a record,
    so each is refused, naming the other."""
    sharing: dict[str, list[_Entry]] = {}
    for entry in entries:
        sharing.setdefault(entry.case.image_id, []).append(entry)
    cases = []
    for entry in entries:
        case = entry.case
        others = [other.where for other in sharing[case.image_id] if other is not entry]
        if others and case.problem is None:
            case = replace(
                case,
                problem=f"another image has the same id '{case.image_id}' ({', '.join(others)}); "
                "rename one so that each image has its own record",
            )
        cases.append(replace(case, problem=entry.prefix + case.problem) if case.problem else case)
    return cases


SEGMENTATION_FOLDERS = ("labels", "imagesTr", "labelsTr", "imagesTs", "labelsTs")


def looks_classified(folder: str | Path) -> bool:
    """Whether ``folder`` looks like a classification dataset: a CSV at its top, or at least two
    sub-folders each holding image files (one per class). A segmentation layout never does:
    MONAI Label's ``labels/`` and nnU-Net / Decathlon's ``imagesTr/`` + ``labelsTr/`` (with
    ``imagesTs/``, ``labelsTs/``) are not classes."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / "imagesTr").is_dir():
        return False
    if any(p.suffix.lower() == ".csv" for p in folder.iterdir()):
        return True
    subs = [p for p in folder.iterdir() if p.is_dir() and p.name not in SEGMENTATION_FOLDERS]
    return len(subs) >= 2 and all(any(image_extension(f) for f in p.iterdir()) for p in subs)
