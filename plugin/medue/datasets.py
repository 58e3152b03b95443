"""Finding the cases of a dataset folder: which image goes with which label.

Three layouts are recognised, in this order:

1. MONAI Label local datastore: images directly in the folder, labels in ``labels/final/`` under the
   same name (the layout MedUE's own exports use, so an export can be opened as a studies folder);
2. nnU-Net / Medical Segmentation Decathlon: ``imagesTr/`` with ``labelsTr/`` (channel suffixes
   ``_0000``, ``_0001``, ... are dropped when pairing, so every channel gets the case's label),
   and ``imagesTs/`` (test images: no labels, so protected only with an ROI box);
3. pairs in one folder: ``<case>_image.<ext>`` with ``<case>_label.<ext>`` (pyradiomics style).

A folder holding DICOM, at any depth, is a case too (image id = its path). Files that are not
images (JSON indexes, READMEs) are ignored; files with an image extension that fail to load are
reported by the caller, not skipped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.io import (
    Volume,
    image_extension,
    looks_like_dicom_folder,
    read_label,
    read_volume,
    strip_extension,
    volume_files,
)

LABEL_SUBFOLDER = Path("labels") / "final"
_CHANNEL = re.compile(r"_\d{4}$")  # nnU-Net channel suffix: case_002_0001 is channel 1


@dataclass(frozen=True)
class Case:
    """One image of a dataset and, where there is one, its label map (segmentation) or its
    class name (classification: ``category``, from a CSV row or a class sub-folder)."""

    image_id: str
    image: Path
    label: Path | None = None
    problem: str | None = None  # found while listing (e.g. two images with one name); refused
    category: str | None = None


def discover_cases(folder: str | Path) -> list[Case]:
    """All cases under ``folder``, sorted by image id."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(folder, "path does not exist")
    if not folder.is_dir():
        raise InputError(folder, "not a folder")
    if (folder / "imagesTr").is_dir():
        cases = _decathlon_cases(folder)
    else:
        cases = _datastore_cases(folder) + _dicom_cases(folder)
    cases = _refuse_shared_files(_refuse_shared_ids(cases))
    return sorted(cases, key=lambda case: (case.image_id, str(case.image)))


def _refuse_shared_ids(cases: list[Case]) -> list[Case]:
    """Two images with one id (``a.nii.gz`` beside ``a.nrrd``; DICOM folders ``X/Y_Z`` and
    ``X_Y/Z``) would share a label, a figure and a record: each is refused, naming the other."""
    paths: dict[str, list[Path]] = {}
    for case in cases:
        paths.setdefault(case.image_id, []).append(case.image)
    problems = {}
    for case in cases:
        others = [p.name for p in paths[case.image_id] if p != case.image]
        if others:
            problems[case.image] = (
                f"another image has the same name '{case.image_id}' ({', '.join(others)}); "
                "rename one so that each image has its own label and record"
            )
    return _refused(cases, problems)


def _refused(cases: list[Case], problems: dict[Path, str]) -> list[Case]:
    """``cases`` with each listed image's problem set (a problem found earlier is kept)."""
    return [
        replace(case, problem=problems[case.image])
        if case.image in problems and case.problem is None
        else case
        for case in cases
    ]


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and image_extension(p)
    )  # fmt: skip


def _datastore_cases(folder: Path) -> list[Case]:
    files = _image_files(folder)
    images = {strip_extension(p): p for p in files}  # a repeated name: reported by the caller
    label_dir = folder / LABEL_SUBFOLDER
    labels = {strip_extension(p): p for p in _image_files(label_dir)} if label_dir.is_dir() else {}
    cases = []
    for path in files:
        name = strip_extension(path)
        stem = name.removesuffix("_image")
        if name.endswith("_image") and f"{stem}_label" in images:
            cases.append(Case(stem, path, images[f"{stem}_label"]))
        elif not (name.endswith("_label") and f"{name.removesuffix('_label')}_image" in images):
            cases.append(Case(name, path, labels.get(name)))
    return cases


def _decathlon_cases(folder: Path) -> list[Case]:
    labels_dir = folder / "labelsTr"
    labels = (
        {strip_extension(p): p for p in _image_files(labels_dir)} if labels_dir.is_dir() else {}
    )
    cases = []
    for path in _image_files(folder / "imagesTr"):
        name = strip_extension(path)
        case_id = _CHANNEL.sub("", name)
        cases.append(Case(case_id if name.endswith("_0000") else name, path, labels.get(case_id)))
    if (folder / "imagesTs").is_dir():
        cases += [Case(strip_extension(p), p) for p in _image_files(folder / "imagesTs")]
    return cases


def _dicom_cases(folder: Path) -> list[Case]:
    """Folders below ``folder``, at any depth (Patient/Study/Series exports), that hold DICOM.

    The image id is the folder's path below ``folder`` with ``_`` for ``/``; its label is the
    file of that name in ``labels/final/`` (any image extension). A folder of non-image objects
    only (an RT Structure Set, a dose grid) is a case too, so that it is named as left out.
    """
    label_dir = folder / LABEL_SUBFOLDER
    labels = {strip_extension(p): p for p in _image_files(label_dir)} if label_dir.is_dir() else {}
    cases = []
    for sub in _sub_folders(folder):
        if looks_like_dicom_folder(sub):
            image_id = "_".join(sub.relative_to(folder).parts)
            cases.append(Case(image_id, sub, labels.get(image_id)))
    return cases


def _sub_folders(folder: Path) -> list[Path]:
    """Every folder below ``folder`` (sorted, depth first), except ``labels/`` and hidden ones."""
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name.startswith(".") or (sub.name == "labels" and sub.parent == folder):
            continue
        found.append(sub)
        found.extend(_sub_folders(sub))
    return found


def _refuse_shared_files(cases: list[Case]) -> list[Case]:
    """Images whose files another image also uses (two headers naming one data file): a
    protected copy of each would overwrite the other's data, so each is refused."""
    users: dict[Path, list[Path]] = {}
    for case in cases:
        if case.image.is_dir():
            continue
        try:
            parts = volume_files(case.image)
        except InputError:
            continue  # reported when the case is read
        for part in parts:
            users.setdefault((case.image.parent / part).resolve(), []).append(case.image)
    problems: dict[Path, str] = {}
    for data, images in users.items():
        for image in images if len(images) > 1 else ():
            others = ", ".join(other.name for other in images if other != image)
            problems[image] = (
                f"shares its data file {data.name} with {others}; each image needs its own"
            )
    return _refused(cases, problems)


@dataclass
class LoadedCase:
    """A case read from disk and checked: the image, and its integer label map if it has one."""

    case: Case
    image: Volume
    label: np.ndarray | None


def load_case(case: Case, require_label: bool = False) -> LoadedCase:
    """Read a case and check it (label on the image grid, ROI not empty)."""
    if case.problem is not None:
        raise InputError(case.image, case.problem)
    image = read_volume(case.image)
    if case.label is None:
        if require_label:
            raise InputError(
                case.image, "has no label map (none found for it; --roi-box protects without one)"
            )
        return LoadedCase(case, image, None)
    label = read_label(case.label, image)
    if not np.any(label):
        raise InputError(case.label, "label map is empty (no foreground voxels, so no ROI)")
    return LoadedCase(case, image, label)
