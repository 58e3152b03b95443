"""Restore a whole release: check the key and the released files, then write every original.

The key (the private folder's ``key`` file, or one given) must open the commitment in the
release's ``release.json`` and in the private manifest; ``release.json`` must be the file the
run wrote. Then each case is rebuilt in memory from its archive (``capture``), every released
file it reads checked against its recorded sha256 and every rebuilt file against the original's;
only a case that passes is written, file by file, atomically, at its original path under OUT. A
case that fails (a modified or missing released file, an existing file at its target) is named
in one line and skipped; the others go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from medue.errors import InputError
from medue.io.atomic import atomic_path
from medue.keys import KEY_FILE, matches, read_key_file
from medue.release import RELEASE_JSON, read_release_description
from medue.restore.rebuild import read_archive, rebuild, sha256

MANIFEST = "manifest.json"


@dataclass
class Restored:
    """What a restore did: the files written, how many were rebuilt from a stored copy, and
    the problems (one line each, naming the file)."""

    written: list[Path] = field(default_factory=list)
    stored_copies: int = 0
    problems: list[str] = field(default_factory=list)


def check_folders(release: Path, private: Path, out: Path) -> None:
    """Refuse an OUT that is, or is inside, the release or the private folder."""
    target = out.resolve()
    for folder, what in ((release, "release"), (private, "private")):
        folder = folder.resolve()
        if target == folder or folder in target.parents:
            raise InputError(out, f"must be outside the {what} folder ({folder})")
    for folder in (release, private):
        if not folder.is_dir():
            raise InputError(folder, "is not a folder")


def check_key(release: Path, private: Path, record: dict, key_file: Path | None) -> bytes:
    """The key, once it opens both commitments and ``release.json`` is the one written."""
    path = key_file or private / KEY_FILE
    key = read_key_file(path)
    released = record.get("released") or {}
    if not released:
        raise InputError(private / MANIFEST, "records no protected image: nothing to restore")
    if not matches(key, released.get("key_commitment", "")):
        raise InputError(path, "is not the key of this private record (its commitment differs)")
    description = read_release_description(release)
    if not matches(key, description.get("key_commitment", {}).get("value", "")):
        raise InputError(path, f"does not open this release (the commitment in "
                         f"{release / RELEASE_JSON} differs)")  # fmt: skip
    for name, recorded in released.get("files", {}).items():  # release.json, RELEASE.md
        path = release / name
        if not path.is_file() or sha256(path.read_bytes()) != recorded:
            raise InputError(path, "has been modified since the release was written")
    return key


def read_manifest(private: Path) -> dict:
    path = private / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "is missing: not a MedUE private folder") from None
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot be read ({type(error).__name__})") from None


def restore_release(
    release: Path, private: Path, out: Path, key_file: Path | None = None
) -> Restored:
    """Restore every case of ``release`` into ``out``; raises ``InputError`` for a problem with
    the whole restore (folders, key, description), lists per-case problems in the result."""
    check_folders(release, private, out)
    record = read_manifest(private)
    check_key(release, private, record, key_file)
    done = Restored()
    for case in record.get("cases", []):
        archive = private / case.get("restore", "")
        try:
            files, stored = _rebuild_case(archive, release, out)
            for target, data in files:
                with atomic_path(target) as tmp:
                    tmp.write_bytes(data)
                done.written.append(target)
            done.stored_copies += stored
        except InputError as error:
            done.problems.append(str(error))
    return done


def _rebuild_case(archive: Path, release: Path, out: Path) -> tuple[list[tuple[Path, bytes]], int]:
    """Every original file of one case, rebuilt and verified, with its target under ``out``."""
    if not archive.is_file():
        raise InputError(archive, "is missing from the private folder; case not restored")
    try:
        index, blobs = read_archive(archive)
    except (OSError, ValueError, KeyError) as error:
        raise InputError(archive, f"cannot be read ({type(error).__name__})") from None
    files, stored = [], 0
    for number, entry in enumerate(index["files"]):
        target = out / entry["original"]
        if target.exists():
            raise InputError(target, "exists; restore never overwrites (choose an empty folder)")
        released = _released_bytes(release, entry)
        data = rebuild(entry, blobs.get(str(number), {}), released)
        if sha256(data) != entry["sha256"]:
            raise InputError(target, "the rebuilt file does not match the original's sha256")
        files.append((target, data))
        stored += entry["how"] == "stored"
    return files, stored


def _released_bytes(release: Path, entry: dict) -> bytes | None:
    """The released file an entry reads, checked against the sha256 recorded when written."""
    if entry.get("released") is None or entry["how"] == "stored":
        return None
    path = release / entry["released"]
    if not path.is_file():
        raise InputError(path, "is missing from the release; case not restored")
    data = path.read_bytes()
    if sha256(data) != entry["released_sha256"]:
        raise InputError(path, "has been modified since the release was written (sha256 "
                         "differs); case not restored")  # fmt: skip
    return data
