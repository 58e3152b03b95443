"""Where each protected copy goes, and fingerprints of inputs and outputs for the manifest.

Outputs mirror the input layout under the output folder (same relative names, so an export can be
opened as a MONAI Label studies folder); label maps are copied unchanged beside them. The output
folder may never be, or sit inside, the input folder: originals are only read.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from medue.datasets import Case
from medue.errors import InputError
from medue.io.atomic import atomic_path

REPORT_FOLDER = "medue"


def check_output_folder(input_path: Path, output: Path) -> None:
    source = input_root(input_path).resolve()
    target = output.resolve()
    if target == source or source in target.parents:
        raise InputError(
            output, "output folder must be outside the input folder (originals are only read)"
        )


def input_root(input_path: Path) -> Path:
    return input_path if input_path.is_dir() else input_path.parent


def output_for(path: Path, root: Path, output: Path) -> Path:
    """The output path mirroring ``path`` (relative to ``root``) under ``output``."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(path.name)
    return output / relative


def copy_label(case: Case, root: Path, output: Path) -> Path | None:
    if case.label is None:
        return None
    target = output_for(case.label, root, output)
    with atomic_path(target) as tmp:
        shutil.copyfile(case.label, tmp)
    return target


def fingerprint(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, sorted)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
