"""The owner's private folder: where it goes, who may read it, and the key it holds.

A protect run writes two folders. The *release* (the output folder) holds what may be published:
the protected images, their labels and the public description (``medue.release``). The *private*
folder holds what stays with the owner: the key, the fitted method, the full manifest (per-image
epsilon, input sha256), the report and figures, the journals that let a run resume, the victim
check and the restoration data (``medue.restore``). It is ``OUT.private`` beside the release
unless the user names one; it may never be inside the release, hold the release, or touch the
input. Its folders are mode 0700 and its files 0600 (owner only).
"""

from __future__ import annotations

import os
from pathlib import Path

from medue import keys
from medue.errors import InputError

PRIVATE_SUFFIX = ".private"
OWNER_FOLDER = 0o700
OWNER_FILE = 0o600


def default_private(output: Path) -> Path:
    """``OUT.private``: the private folder beside the release ``output``."""
    output = Path(output).absolute()
    return output.with_name(output.name + PRIVATE_SUFFIX)


def check_private_folder(input_path: Path, output: Path, private: Path) -> None:
    """Refuse a private folder inside the release, a release inside the private folder, the two
    being one folder, or a private folder that is or sits inside the input."""
    release, secret = Path(output).resolve(), Path(private).resolve()
    source = Path(input_path).resolve()
    if secret == release or release in secret.parents:
        raise InputError(private, "the private folder must be outside the release folder "
                         "(everything in the release is meant to be published)")  # fmt: skip
    if secret in release.parents:
        raise InputError(output, "the release folder must be outside the private folder")
    if secret == source or source in secret.parents or secret in source.parents:
        raise InputError(private, "the private folder must be outside the input folder")
    if secret.is_file():
        raise InputError(private, "is a file; give a folder for the private record")


def open_private(private: Path) -> Path:
    """Create ``private`` (and parents) if needed and make it owner-only; returns it."""
    private = Path(private)
    private.mkdir(parents=True, exist_ok=True)
    os.chmod(private, OWNER_FOLDER)
    return private


def restrict(private: Path) -> None:
    """Owner-only modes on everything in ``private``: 0700 folders, 0600 files (links are
    left alone)."""
    os.chmod(private, OWNER_FOLDER)
    for root, folders, files in os.walk(private):
        for name in folders:
            path = Path(root) / name
            if not path.is_symlink():
                os.chmod(path, OWNER_FOLDER)
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                os.chmod(path, OWNER_FILE)


def dataset_key(private: Path, key_file: Path | None) -> bytes:
    """The key of the release whose private folder is ``private``: the one it already holds
    (a resumed run), else ``key_file``'s, else a new one; a new key is written to
    ``private/key`` (0600). Raises ``InputError`` when ``key_file`` differs from the key the
    private folder holds (one release is made with one key)."""
    stored = Path(private) / keys.KEY_FILE
    given = keys.read_key_file(key_file) if key_file is not None else None
    if stored.is_file():
        key = keys.read_key_file(stored)
        if given is not None and given != key:
            raise InputError(key_file, f"is not the key of this release ({stored} holds "
                             "another); use that key or another output folder")  # fmt: skip
        return key
    key = given if given is not None else keys.new_key()
    keys.write_key_file(stored, key)
    return key
