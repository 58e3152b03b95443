"""Rebuild one original file from its released counterpart and its restoration entry.

An entry (``capture``) says how: ``same`` (the release holds the original's bytes, e.g. a label
map), ``xor`` (the released payload XOR the stored difference, in the original's container,
``streams``), ``dicom`` (the original's elements around the released Pixel Data XOR the stored
difference, ``dicom_payload``) or ``stored`` (the original kept whole, compressed). A case's
entries and blobs are one ZIP archive (LZMA-compressed members) in the private folder.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from medue.restore import dicom_payload, streams

INDEX = "index.json"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def xor(left: bytes, right: bytes) -> bytes:
    """Byte-wise XOR of two equally long byte strings."""
    a = np.frombuffer(left, dtype=np.uint8)
    b = np.frombuffer(right, dtype=np.uint8)
    return np.bitwise_xor(a, b).tobytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rebuild(entry: dict, blobs: dict[str, bytes], released: bytes | None) -> bytes:
    """The original bytes of ``entry`` from the released file's bytes ``released``."""
    how = entry["how"]
    if how == "stored":
        return blobs["original"]
    if released is None:
        raise ValueError("a released file is needed")
    if how == "same":
        return released
    if how == "dicom":
        value = dicom_payload.pixel_value(released) or b""
        pixels = blobs["pixels"] if "pixels" in blobs else xor(value, blobs["xor"])
        return blobs["head"] + pixels + blobs["tail"]
    if how == "xor":
        payload = streams.decode(released).payload
        original = xor(payload, blobs["xor"])
        return streams.encode(entry["kind"], blobs["head"], original, blobs["tail"],
                              entry["params"])  # fmt: skip
    raise ValueError(f"unknown restoration {how!r}")


def write_archive(path: Path, index: dict, blobs: dict[str, bytes]) -> None:
    """Write a case's ``index`` and ``blobs`` (named ``<file number>.<blob>``) to ``path``
    (LZMA-compressed members, but for gzip data, stored as it is)."""
    members = {INDEX: json.dumps(index, indent=1).encode(), **blobs}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():  # already compressed (a gzip file): stored as is
            member = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)  # the same bytes every run
            member.compress_type = (
                zipfile.ZIP_STORED if data[:2] == b"\x1f\x8b" else zipfile.ZIP_LZMA
            )
            archive.writestr(member, data)


def read_archive(path: Path) -> tuple[dict, dict[str, dict[str, bytes]]]:
    """A case's index and, per file number, its blobs."""
    with zipfile.ZipFile(path) as archive:
        index = json.loads(archive.read(INDEX))
        blobs: dict[str, dict[str, bytes]] = {}
        for name in archive.namelist():
            if name != INDEX:
                number, _, blob = name.partition(".")
                blobs.setdefault(number, {})[blob] = archive.read(name)
    return index, blobs
