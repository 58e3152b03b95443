"""Where each protected copy goes, and fingerprints of inputs and outputs for the manifest.

Outputs mirror the input layout under the output folder (same relative names, so an export can be
opened as a MONAI Label studies folder); label maps are copied unchanged beside them, with every
file they consist of (a detached header's data file too); a classification release gets a
``labels.csv`` naming each copy's class. A single image or a DICOM series folder
given as the input is written *into* the output folder under its own name. The output folder may
never be, or sit inside, the input folder, and no output may land on an original.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from collections.abc import Callable
from pathlib import Path

from medue.datasets import Case
from medue.errors import InputError
from medue.io import image_extension, looks_like_dicom_folder, volume_files
from medue.io.atomic import atomic_path, commit_staged, staging_folder


def check_output_folder(input_path: Path, output: Path) -> None:
    """Refuse an output folder that is the input, sits inside it, or would receive originals."""
    source = input_path.resolve()
    target = output.resolve()
    inside = source.is_dir() and (target == source or source in target.parents)
    if inside or target == input_root(input_path).resolve():
        raise InputError(
            output, "output folder must be outside the input folder (originals are only read)"
        )
    if target.is_file():
        raise InputError(output, "is a file; give a folder for the protected copies")


def input_root(input_path: Path) -> Path:
    """The folder outputs are mirrored from: a dataset folder itself, else the input's parent."""
    single = input_path.is_file() or looks_like_dicom_folder(input_path)
    return input_path.parent if single else input_path


def output_for(path: Path, root: Path, output: Path) -> Path:
    """The output path mirroring ``path`` (relative to ``root``) under ``output``."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(path.name)
    return output / relative


def label_output(case: Case, root: Path, output: Path) -> Path | None:
    """Where ``case``'s label map goes (None without one)."""
    return None if case.label is None else output_for(case.label, root, output)


def copy_label(case: Case, root: Path, output: Path) -> Path | None:
    """Copy ``case``'s label map, with all its files, to its mirrored place (atomically)."""
    target = label_output(case, root, output)
    if target is None:
        return None
    parts = volume_files(case.label)
    with staging_folder(target.parent) as stage:
        for part in parts:
            staged = stage / part
            staged.parent.mkdir(parents=True, exist_ok=True)
            if (case.label.parent / part).is_dir():
                shutil.copytree(case.label.parent / part, staged)
            else:
                shutil.copyfile(case.label.parent / part, staged)
        for part in parts:
            commit_staged(stage / part, target.parent / part)
    return target


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes (what ``sha256sum`` prints); for an image made of several files (a
    detached header and its data file) or a folder (a DICOM series), sha256 over each file's name
    and bytes, in sorted order."""
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    elif image_extension(path):
        files = [path.parent / part for part in volume_files(path)]
    else:
        files = [path]
    for file in files:
        if len(files) > 1 or path.is_dir():
            digest.update(file.name.encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


CLASS_TABLE = "labels.csv"


def write_class_table(
    output: Path, entries: list[tuple[Path, str]], before_commit: Callable[[Path], None]
) -> Path:
    """``output/labels.csv`` (header ``image,label``; paths relative to it) listing each written
    copy of a classification dataset and its class, so the release opens as a dataset again.
    ``before_commit`` gets the complete temporary file just before it is moved into place."""
    target = output / CLASS_TABLE
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "label"])
    for path, category in sorted(entries):
        writer.writerow([path.relative_to(output).as_posix(), category])
    with atomic_path(target) as tmp:
        tmp.write_text(buffer.getvalue())
        before_commit(tmp)
    return target


def rank_file(name: str, rank: int) -> str:
    """A per-rank journal's file name: ``name`` for rank 0, ``cases.rank1.jsonl`` for rank 1."""
    if rank == 0:
        return name
    stem, dot, suffix = name.partition(".")
    return f"{stem}.rank{rank}{dot}{suffix}"


def rank_files(name: str) -> str:
    """The glob that finds every rank's journal of ``name`` (``cases*.jsonl``)."""
    stem, dot, suffix = name.partition(".")
    return f"{stem}*{dot}{suffix}"
