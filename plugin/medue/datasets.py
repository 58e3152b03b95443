"""Finding the cases of a dataset folder: which image goes with which label.

Three layouts are recognised, in this order:

1. MONAI Label local datastore: images directly in the folder, labels in ``labels/final/`` under the
   same name (the layout MedUE's own exports use, so an export can be opened as a studies folder);
2. nnU-Net / Medical Segmentation Decathlon: ``imagesTr/`` with ``labelsTr/`` (``_0000`` suffixes
   on image names are dropped when pairing);
3. pairs in one folder: ``<case>_image.<ext>`` with ``<case>_label.<ext>`` (pyradiomics style).

A sub-folder holding a DICOM series is a case too (image id = folder name). Files that are not
images (JSON indexes, READMEs) are ignored; files with an image extension that fail to load are
reported by the caller, not skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
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
)

LABEL_SUBFOLDER = Path("labels") / "final"


@dataclass(frozen=True)
class Case:
    """One image of a dataset and, where there is one, its label map."""

    image_id: str
    image: Path
    label: Path | None = None


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
    return sorted(cases, key=lambda case: case.image_id)


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and image_extension(p)
    )  # fmt: skip


def _datastore_cases(folder: Path) -> list[Case]:
    images = {strip_extension(p): p for p in _image_files(folder)}
    label_dir = folder / LABEL_SUBFOLDER
    labels = {strip_extension(p): p for p in _image_files(label_dir)} if label_dir.is_dir() else {}
    cases = []
    for name, path in images.items():
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
        case_id = name[:-5] if name.endswith("_0000") else name
        cases.append(Case(case_id, path, labels.get(case_id)))
    return cases


def _dicom_cases(folder: Path) -> list[Case]:
    """Sub-folders holding a DICOM image series (image id = folder name), with the label of
    that name in ``labels/final/`` (any image extension). Folders of non-image objects only
    (an RT Structure Set, a dose grid) are not cases."""
    label_dir = folder / LABEL_SUBFOLDER
    labels = {strip_extension(p): p for p in _image_files(label_dir)} if label_dir.is_dir() else {}
    return [
        Case(sub.name, sub, labels.get(sub.name))
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and sub.name != "labels" and not sub.name.startswith(".")
        and looks_like_dicom_folder(sub)
    ]  # fmt: skip


@dataclass
class LoadedCase:
    """A case read from disk and checked: the image, and its integer label map if it has one."""

    case: Case
    image: Volume
    label: np.ndarray | None


def load_case(case: Case, require_label: bool = False) -> LoadedCase:
    """Read a case and check it (label on the image grid, ROI not empty)."""
    image = read_volume(case.image)
    if case.label is None:
        if require_label:
            raise InputError(case.image, "has no label map (expected one in labels/final/)")
        return LoadedCase(case, image, None)
    label = read_label(case.label, image)
    if not np.any(label):
        raise InputError(case.label, "label map is empty (no foreground voxels, so no ROI)")
    return LoadedCase(case, image, label)
