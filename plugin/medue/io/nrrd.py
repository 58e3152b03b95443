"""NRRD files (attached ``.nrrd`` or detached ``.nhdr`` + data file) kept header for header.

The NRRD format (teem, "NRRD format file specification", NRRD0001-NRRD0005) is a text header of
fields and key/value pairs, then the data, either after a blank line in the same file or in the
file the ``data file`` field names. The header carries geometry, axis kinds, units, measurement
frame and any key/value a converter added; MedUE writes it back byte for byte and writes new data
in the header's own ``type``, ``endian`` and ``encoding``. A detached data file is written under
the name the header gives it, beside the header, so image and label stay readable.

Fields are parsed with pynrrd; what cannot be written back faithfully (a data file given by an
absolute path or outside the header's folder, several data files, byte/line skips, text, hex
or bzip2 encodings) is refused with one message naming the file.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import nrrd
import numpy as np

from medue.errors import InputError
from medue.io import detached

GZIP_LEVEL = 6
ENCODINGS = {"raw": "raw", "gzip": "gzip", "gz": "gzip"}  # what ITK's NrrdIO reads here


@dataclass(frozen=True)
class NrrdLayout:
    """Where and how an NRRD file keeps its data."""

    header: bytes  # the header exactly as stored, through the blank line of an attached file
    encoding: str  # "raw" or "gzip"
    byte_order: str  # "<" or ">"
    data_file: Path | None  # relative to the header's folder; None when the data is attached


def nrrd_layout(path: Path) -> NrrdLayout:
    """Parse ``path``'s header; refuses what MedUE could not write back faithfully."""
    try:
        fields = nrrd.read_header(str(path))
    except Exception as error:  # pynrrd raises NRRDError and others for damaged headers
        raise InputError(path, f"cannot be read as an NRRD header ({error})") from None
    encoding = ENCODINGS.get(str(fields.get("encoding", "")).lower())
    if encoding is None:
        raise InputError(
            path, f"NRRD encoding '{fields.get('encoding')}' is not supported (raw, gzip)"
        )
    for skip in ("byte skip", "line skip"):
        if int(fields.get(skip, 0)) != 0:
            raise InputError(path, f"NRRD '{skip}' is not supported")
    return NrrdLayout(
        header=_header_bytes(path, "data file" in fields),
        encoding=encoding,
        byte_order=">" if str(fields.get("endian", "little")).lower() == "big" else "<",
        data_file=_data_file(path, fields.get("data file", fields.get("datafile"))),
    )


def nrrd_parts(path: Path) -> list[Path]:
    """The files of an NRRD image, relative to its folder: data file (if detached), header."""
    return detached.parts(path, nrrd_layout(path).data_file)


def stage_nrrd(stored: np.ndarray, source: Path, staged: Path) -> list[Path]:
    """Write ``source``'s header with ``stored`` (z, y, x) as its data, under ``staged``'s name.

    Returns the written files relative to ``staged``'s folder, data file first.
    """
    layout = nrrd_layout(source)
    return detached.write_parts(staged, layout.header, _encode(stored, layout), layout.data_file)


def _encode(stored: np.ndarray, layout: NrrdLayout) -> bytes:
    raw = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder(layout.byte_order))
    payload = raw.tobytes()
    if layout.encoding == "gzip":
        return gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)
    return payload


def _header_bytes(path: Path, detached: bool) -> bytes:
    """The header as stored: the whole ``.nhdr``, or an attached file's bytes to its blank line."""
    if detached:
        return path.read_bytes()
    lines = []
    with path.open("rb") as stream:
        for line in stream:
            lines.append(line)
            if not line.strip():
                return b"".join(lines)
    raise InputError(path, "NRRD header has no blank line and no 'data file': no data")


def _data_file(header: Path, value: object) -> Path | None:
    return None if value is None else detached.data_file_name(header, str(value).strip(), "NRRD")
