"""Capture, at protect time, what restores one case's original files exactly.

Called by the protect job once a case's protected copy (and label copy) is in place. For every
file of the original (each part of a NIfTI pair or detached header, every file of a DICOM series
folder, the label map's files) the cheapest exact entry is chosen (``rebuild``), rebuilt from
the released file and compared with the original's sha256; an entry that does not reproduce the
original is replaced by the original stored whole (and its ``note`` says so). The case's archive
is ``restore/<name>.zip`` in the private folder, ``name`` a hash of the image's path relative to
the input, so that a resumed run finds it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from medue.io import volume_files
from medue.io.atomic import atomic_path
from medue.restore import dicom_payload, streams
from medue.restore.rebuild import read_archive, rebuild, sha256, write_archive, xor

RESTORE_FOLDER = "restore"


@dataclass(frozen=True)
class CaseFiles:
    """One case's originals and where its copies are: ``root`` is the folder the input is
    mirrored from, ``release`` the release folder."""

    image: Path
    label: Path | None
    root: Path
    target: Path
    label_target: Path | None
    release: Path


def archive_name(image: Path, root: Path) -> str:
    """The case's archive path in the private folder, from its image's path under ``root``."""
    relative = _relative(image, root).as_posix()
    return f"{RESTORE_FOLDER}/{hashlib.sha256(relative.encode()).hexdigest()[:24]}.zip"


def capture_case(files: CaseFiles, private: Path, image_id: str, input_sha256: str) -> Path:
    """Write the case's archive (unless one for this very input and release is there)."""
    path = private / archive_name(files.image, files.root)
    pairs = file_pairs(files)
    if path.is_file() and _current(path, input_sha256, pairs):
        return path
    entries, blobs = [], {}
    for number, (original, released) in enumerate(pairs):
        entry, file_blobs = capture_file(original.read_bytes(),
                                         released.read_bytes() if released else None)  # fmt: skip
        entry |= {
            "original": _relative(original, files.root).as_posix(),
            "released": _relative(released, files.release).as_posix() if released else None,
        }
        entries.append(entry)
        blobs |= {f"{number}.{name}": data for name, data in file_blobs.items()}
    index = {"image_id": image_id, "input_sha256": input_sha256,
             "image": _relative(files.image, files.root).as_posix(), "files": entries}  # fmt: skip
    with atomic_path(path) as tmp:
        write_archive(tmp, index, blobs)
    return path


def file_pairs(files: CaseFiles) -> list[tuple[Path, Path | None]]:
    """Each original file of the case with its released counterpart (None: not released)."""
    pairs = _pairs(files.image, files.target)
    if files.label is not None and files.label_target is not None:
        pairs += _pairs(files.label, files.label_target)
    return pairs


def _pairs(source: Path, target: Path) -> list[tuple[Path, Path | None]]:
    if source.is_dir():  # a DICOM series: the derived files keep their names, flat
        pairs = []
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            candidates = (target / path.relative_to(source), target / path.name)
            pairs.append((path, next((c for c in candidates if c.is_file()), None)))
        return pairs
    pairs = []
    for part in volume_files(source):
        original, released = source.parent / part, target.parent / part
        if original.is_dir():
            pairs += _pairs(original, released)
        else:
            pairs.append((original, released if released.is_file() else None))
    return pairs


def capture_file(original: bytes, released: bytes | None) -> tuple[dict, dict[str, bytes]]:
    """The exact restoration entry of one file and its blobs (verified by rebuilding)."""
    entry: dict = {"sha256": sha256(original)}
    if released is None:
        return entry | {"how": "stored", "note": "not in the release"}, {"original": original}
    entry["released_sha256"] = sha256(released)
    for attempt in (_same, _dicom, _container):
        found = attempt(original, released)
        if found is not None and rebuild(found[0], found[1], released) == original:
            return entry | found[0], found[1]
    note = "restored from a stored copy: its container could not be rebuilt exactly"
    return entry | {"how": "stored", "note": note}, {"original": original}


def _same(original: bytes, released: bytes):
    return ({"how": "same"}, {}) if original == released else None


def _dicom(original: bytes, released: bytes):
    if original[128:132] != b"DICM":
        return None
    parts = dicom_payload.split(original)
    value = dicom_payload.pixel_value(released)
    if parts is None or value is None:
        return None
    head, pixels, tail = parts
    if len(pixels) == len(value):
        return {"how": "dicom"}, {"head": head, "tail": tail, "xor": xor(pixels, value)}
    return {"how": "dicom"}, {"head": head, "tail": tail, "pixels": pixels}


def _container(original: bytes, released: bytes):
    mine, theirs = streams.decode(original), streams.decode(released)
    if len(mine.payload) != len(theirs.payload):
        return None
    params = streams.find_deflate(mine)
    if params is None:
        return None
    entry = {"how": "xor", "kind": mine.kind, "params": params}
    return entry, {"head": mine.head, "tail": mine.tail, "xor": xor(mine.payload, theirs.payload)}


def _current(path: Path, input_sha256: str, pairs: list[tuple[Path, Path | None]]) -> bool:
    """Whether the archive at ``path`` was made for this input and these released files."""
    try:
        index, _ = read_archive(path)
    except (OSError, ValueError, KeyError):
        return False
    released = [sha256(r.read_bytes()) if r else None for _, r in pairs]
    recorded = [entry.get("released_sha256") for entry in index.get("files", [])]
    return index.get("input_sha256") == input_sha256 and recorded == released


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return Path(path.name)
