"""Headers that name a separate data file (NRRD ``data file``, MetaImage ``ElementDataFile``).

A copy of such an image is only faithful when its data file travels with it under the name the
header gives, relative to the header's folder. Names that cannot travel (absolute paths, ``..``,
several files) are refused; writing puts the data file first and the header that names it last.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from medue.errors import InputError


def data_file_name(header: Path, name: str, kind: str) -> Path:
    """The data file ``name`` from ``header``, checked to travel with it; ``kind`` names the format.

    Raises InputError for several files (a list or a pattern), a path outside the header's
    folder, or a file that does not exist.
    """
    if name.upper().startswith("LIST") or len(name.split()) > 1:
        raise InputError(header, f"{kind} data split over several files is not supported")
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise InputError(
            header,
            f"{kind} data file '{name}' is outside the header's folder; a copy could not carry it",
        )
    if not (header.parent / relative).is_file():
        raise InputError(header, f"{kind} data file '{name}' does not exist")
    return Path(relative)


def write_parts(staged: Path, header: bytes, data: bytes, data_file: Path | None) -> list[Path]:
    """Write an attached (``data_file`` None) or detached image; returns its files, header last."""
    if data_file is None:
        staged.write_bytes(header + data)
        return [Path(staged.name)]
    data_path = staged.parent / data_file
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_bytes(data)
    staged.write_bytes(header)
    return [data_file, Path(staged.name)]


def parts(header: Path, data_file: Path | None) -> list[Path]:
    """The files of an image relative to its folder: the data file (if detached), the header."""
    return [data_file, Path(header.name)] if data_file else [Path(header.name)]
