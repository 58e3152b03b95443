"""Atomic file and folder writes: a reader sees either the old content or the new, never half.

Outputs are written under a hidden temporary name in the destination folder (same filesystem, so
the final ``os.replace`` is atomic) and moved into place only when complete. An interrupted run
(Ctrl-C, crash, cancelled job) leaves at most a ``.medue-tmp-*`` entry, never a truncated output.

Two shapes:

* :func:`atomic_path` for one file (a manifest, a figure): write the yielded path, it is renamed.
* :func:`staging_folder` + :func:`commit_staged` for an output made of several files under fixed
  names (a detached NRRD header and its data file, a DICOM series folder): every file is written
  into a hidden folder beside the destination under its *final* name, so headers that name their
  data files stay right; the caller reads the staged copy back to verify it, then commits it file
  by file (data files first, the file that names them last).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".medue-tmp-"


def temporary_sibling(target: Path) -> Path:
    """A unique hidden name beside ``target``, keeping its extensions (writers choose by them)."""
    return target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-{target.name}")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write one file; on success move it onto ``target``.

    On any error (or Ctrl-C) the temporary file is deleted and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def staging_folder(destination: str | Path) -> Iterator[Path]:
    """A new hidden empty folder inside ``destination`` (created if needed); removed on exit.

    Whatever was not committed out of it by the time the block ends is deleted with it.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    stage = destination / f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def commit_staged(staged: Path, target: Path) -> None:
    """Move a staged file or folder onto ``target`` (same filesystem, so each move is atomic).

    A folder replaces an existing folder of the same name by a swap: the old one is removed only
    after the new one is in place. Callers decide beforehand whether replacing is allowed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if staged.is_dir() and target.is_dir():
        old = temporary_sibling(target)
        os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete the ``.medue-tmp-*`` files and folders a killed run left anywhere under ``folder``
    (never a finished output: those never carry the prefix); returns what was deleted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = sorted(folder.rglob(f"{TMP_PREFIX}*"), key=lambda p: len(p.parts))
    removed = []
    for path in found:
        if path.exists() or path.is_symlink():
            _remove(path)
            removed.append(path)
    return removed
