"""MetaImage files (``.mha`` with local data, ``.mhd`` + data file) kept header for header.

A MetaImage header (ITK MetaIO, "MetaIO documentation", itk.org) is ``Key = Value`` lines ending
with ``ElementDataFile``: ``LOCAL`` (data follows in the same file) or the name of the data file.
MedUE writes the header back as stored, changing only ``CompressedDataSize`` (which must describe
the new compressed data), and writes new data with the header's element type, byte order and
compression (zlib, as MetaIO writes it). A detached data file keeps its name, beside the header.

Data split over several files (``LIST`` or a file-name pattern), a data file outside the header's
folder, and a nonzero ``HeaderSize`` are refused with one message naming the file.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.io import detached

ZLIB_LEVEL = 6
MAX_HEADER_BYTES = 1 << 16


@dataclass(frozen=True)
class MetaImageLayout:
    """Where and how a MetaImage file keeps its data."""

    header_lines: tuple[bytes, ...]  # as stored, each with its line ending
    fields: dict[str, str]
    compressed: bool
    byte_order: str  # "<" or ">"
    data_file: Path | None  # relative to the header's folder; None for LOCAL data


def metaimage_layout(path: Path) -> MetaImageLayout:
    """Parse ``path``'s header; refuses what MedUE could not write back faithfully."""
    lines, fields = _read_header(path)
    if int(fields.get("headersize", "0")) != 0:
        raise InputError(path, "MetaImage 'HeaderSize' other than 0 is not supported")
    msb = fields.get("binarydatabyteordermsb", fields.get("elementbyteordermsb", "False"))
    return MetaImageLayout(
        header_lines=tuple(lines),
        fields=fields,
        compressed=fields.get("compresseddata", "False").lower() == "true",
        byte_order=">" if msb.lower() == "true" else "<",
        data_file=_data_file(path, fields["elementdatafile"]),
    )


def metaimage_parts(path: Path) -> list[Path]:
    """The files of a MetaImage, relative to its folder: data file (if detached), header."""
    return detached.parts(path, metaimage_layout(path).data_file)


def stage_metaimage(stored: np.ndarray, source: Path, staged: Path) -> list[Path]:
    """Write ``source``'s header with ``stored`` (z, y, x) as its data, under ``staged``'s name.

    Returns the written files relative to ``staged``'s folder, data file first.
    """
    layout = metaimage_layout(source)
    raw = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder(layout.byte_order))
    data = raw.tobytes()
    if layout.compressed:
        data = zlib.compress(data, ZLIB_LEVEL)
    header = b"".join(_with_compressed_size(line, len(data)) for line in layout.header_lines)
    return detached.write_parts(staged, header, data, layout.data_file)


def _read_header(path: Path) -> tuple[list[bytes], dict[str, str]]:
    lines: list[bytes] = []
    fields: dict[str, str] = {}
    size = 0
    with path.open("rb") as stream:
        for line in stream:
            size += len(line)
            if size > MAX_HEADER_BYTES:
                break
            lines.append(line)
            key, sep, value = line.decode("latin-1").partition("=")
            if not sep:
                raise InputError(path, f"not a MetaImage header line: {line[:60]!r}")
            fields[key.strip().lower()] = value.strip()
            if key.strip().lower() == "elementdatafile":
                return lines, fields
    raise InputError(path, "MetaImage header has no ElementDataFile line")


def _with_compressed_size(line: bytes, size: int) -> bytes:
    key, sep, _ = line.partition(b"=")
    if sep and key.strip().lower() == b"compresseddatasize":
        ending = line[len(line.rstrip(b"\r\n")) :]
        return key + b"= " + str(size).encode() + ending
    return line


def _data_file(header: Path, value: str) -> Path | None:
    if value.upper() == "LOCAL":
        return None
    return detached.data_file_name(header, value, "MetaImage")
