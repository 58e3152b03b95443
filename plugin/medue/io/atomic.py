"""Atomic file and folder writes: a reader sees either the old content or the new, never half.

Outputs are written to a hidden temporary name in the destination folder (same filesystem, so the
final ``os.replace`` is atomic) and renamed into place only when complete. An interrupted run
(Ctrl-C, crash, cancelled job) leaves at most a ``.medue-tmp-*`` entry, never a truncated output.
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
    """Yield a temporary path to write; on success move it onto ``target``, on error delete it.

    Works for a file or a folder written at the yielded path.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        yield tmp
        if target.is_dir() and tmp.is_dir():
            _replace_dir(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _replace_dir(new: Path, target: Path) -> None:
    """Swap a finished folder into place; the old one is removed only after the swap."""
    old = temporary_sibling(target)
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
