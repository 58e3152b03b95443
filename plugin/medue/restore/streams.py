"""A file as container bytes around one payload stream: raw, gzip (RFC 1952) or zlib (RFC 1950).

``decode`` splits a file into the bytes before its payload (a NRRD or MetaImage text header, a
gzip member header), the payload decoded, and the bytes after it (the gzip or zlib trailer).
``encode`` puts a payload back with a recorded head, tail and deflate parameters
(RFC 1951; zlib's level and memory level), which ``find_deflate`` finds by compressing again
and comparing with the original stream (stopping at the first differing chunk). NIfTI, NIfTI
pairs, NRRD (attached or detached, raw or gzip) and MetaImage (raw or zlib) fit this model.
A gzip NIfTI that no zlib setting reproduces (ITK's writers, as SimpleITK ships them, use their
own deflate) is tried once more through SimpleITK's own writer (``{"writer": "SimpleITK"}``),
which reproduces files SimpleITK wrote byte for byte.
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

GZIP_MAGIC = b"\x1f\x8b"
LEVELS = (6, 9, 1, 5, 4, 3, 2, 7, 8, 0)  # zlib's default first, then the usual choices
MEM_LEVELS = (8, 9)
CHUNK = 1 << 20
_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2


@dataclass(frozen=True)
class Container:
    """A file's bytes as ``head + stream(payload) + tail``; ``kind`` "raw", "gzip" or "zlib"."""

    kind: str
    head: bytes
    payload: bytes
    tail: bytes
    stream: bytes  # the encoded payload as it is in the file (== payload when raw)


def decode(data: bytes) -> Container:
    """``data`` split into head, decoded payload and tail (a raw file is all payload)."""
    start = _payload_start(data)
    body = data[start:]
    if body[:2] == GZIP_MAGIC:
        header = _gzip_header_length(body)
        if header:
            found = _inflate(body[header:], -15)
            if found is not None:
                payload, used = found
                stream = body[header : header + used]
                return Container("gzip", data[: start + header], payload, body[header + used :],
                                 stream)  # fmt: skip
    if start and _looks_zlib(body):
        found = _inflate(body, 15)
        if found is not None:
            payload, used = found
            return Container("zlib", data[:start], payload, body[used:], body[:used])
    return Container("raw", data[:start], body, b"", body)


def find_deflate(container: Container) -> dict | None:
    """The deflate parameters that reproduce ``container.stream`` from its payload, or None."""
    if container.kind == "raw":
        return {}
    wbits = -15 if container.kind == "gzip" else 15
    for level in LEVELS:
        for mem_level in MEM_LEVELS:
            if _reproduces(container, level, wbits, mem_level):
                return {"level": level, "mem_level": mem_level}
    whole = container.head + container.stream + container.tail
    if (
        container.kind == "gzip"
        and _is_nifti(container.payload)
        and _itk_gzip(container.payload) == whole
    ):
        return {"writer": "SimpleITK"}
    return None


def encode(kind: str, head: bytes, payload: bytes, tail: bytes, params: dict) -> bytes:
    """The file bytes: ``head``, ``payload`` encoded as ``kind`` with ``params``, ``tail``."""
    if kind == "raw":
        return head + payload + tail
    if params.get("writer") == "SimpleITK":
        return _itk_gzip(payload)
    wbits = -15 if kind == "gzip" else 15
    compressor = zlib.compressobj(params["level"], zlib.DEFLATED, wbits, params["mem_level"])
    return head + compressor.compress(payload) + compressor.flush() + tail


def _reproduces(container: Container, level: int, wbits: int, mem_level: int) -> bool:
    compressor = zlib.compressobj(level, zlib.DEFLATED, wbits, mem_level)
    expected, offset = container.stream, 0
    for start in range(0, len(container.payload), CHUNK):
        out = compressor.compress(container.payload[start : start + CHUNK])
        if out != expected[offset : offset + len(out)]:
            return False
        offset += len(out)
    out = compressor.flush()
    return out == expected[offset:] and offset + len(out) == len(expected)


def _is_nifti(payload: bytes) -> bool:
    """A single-file NIfTI-1 or NIfTI-2 (magic ``n+1`` at byte 344, ``n+2`` at byte 4)."""
    return payload[344:348] == b"n+1\x00" or payload[4:8] == b"n+2\x00"


def _itk_gzip(payload: bytes) -> bytes:
    """The ``.nii.gz`` bytes SimpleITK writes for the uncompressed NIfTI ``payload``."""
    with tempfile.TemporaryDirectory(prefix="medue-restore-") as scratch:
        raw, packed = Path(scratch) / "image.nii", Path(scratch) / "image.nii.gz"
        raw.write_bytes(payload)
        sitk.WriteImage(sitk.ReadImage(str(raw)), str(packed), useCompression=True)
        return packed.read_bytes()


def _payload_start(data: bytes) -> int:
    """Where a NRRD or MetaImage file's data begins (after its text header); 0 otherwise."""
    if data.startswith(b"NRRD"):
        for blank in (b"\n\n", b"\r\n\r\n"):
            end = data.find(blank)
            if end >= 0:
                return end + len(blank)
    marker = data.find(b"ElementDataFile")
    if 0 <= marker < 4096 and b"LOCAL" in data[marker : marker + 64]:
        end = data.find(b"\n", marker)
        return end + 1 if end >= 0 else 0
    return 0


def _gzip_header_length(body: bytes) -> int:
    """The length of the gzip member header at the start of ``body`` (0 if it is not one)."""
    if len(body) < 10 or body[2] != 8:
        return 0
    flags, at = body[3], 10
    if flags & _FEXTRA:
        at += 2 + int.from_bytes(body[at : at + 2], "little")
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            end = body.find(b"\x00", at)
            if end < 0:
                return 0
            at = end + 1
    if flags & _FHCRC:
        at += 2
    return at if at <= len(body) else 0


def _looks_zlib(body: bytes) -> bool:
    return len(body) > 2 and body[0] & 0x0F == 8 and ((body[0] << 8) | body[1]) % 31 == 0


def _inflate(stream: bytes, wbits: int) -> tuple[bytes, int] | None:
    """The inflated payload and the number of stream bytes it used; None if not deflate."""
    inflater = zlib.decompressobj(wbits)
    try:
        payload = inflater.decompress(stream)
    except zlib.error:
        return None
    if not inflater.eof:
        return None
    return payload, len(stream) - len(inflater.unused_data)
