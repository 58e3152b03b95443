"""NRRD and MetaImage files, attached and detached: the copy keeps every header line and data file.

Sources are written here as text headers plus raw/compressed data (as teem, Slicer or ITK would),
not by MedUE. The written copies are checked with the header text itself and with pynrrd / raw
byte reads: header identical (MetaImage: except CompressedDataSize), data files under their real
names for the image and for its label, values changed within budget and in the stored type.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import nrrd
import numpy as np
import pytest

from medue.errors import InputError
from medue.io import read_volume, volume_files
from tests.io.field_files import (
    SHAPE_XYZ,
    cube_label,
    mhd_header,
    nrrd_header,
    phantom,
    protect_folder,
    write_metaimage,
    write_nrrd,
)


def dataset(folder: Path, writer, name: str, ext: str, **options) -> tuple[Path, Path]:
    """An image and its label, both written by ``writer`` with the same options."""
    (folder / "labels/final").mkdir(parents=True, exist_ok=True)
    data_file = options.pop("data_file", None)
    named = {"data_file": data_file.format(name=name)} if data_file else {}
    image = writer(folder / f"{name}{ext}", phantom(SHAPE_XYZ), **options, **named)
    label_options = {k: v for k, v in options.items() if k in ("endian", "encoding", "msb",
                                                                "compressed")}  # fmt: skip
    label_type = {"dtype": "unsigned char"} if writer is write_nrrd else {
        "element_type": "MET_UCHAR"}  # fmt: skip
    label = writer(folder / f"labels/final/{name}{ext}", cube_label(SHAPE_XYZ),
                   **label_type, **label_options, **named)  # fmt: skip
    return image, label


NRRD_KINDS = {
    "detached_gzip": dict(ext=".nhdr", data_file="{name}.raw.gz"),
    "detached_raw_in_subfolder": dict(ext=".nhdr", encoding="raw", data_file="data/{name}.raw"),
    "attached_big_endian_raw": dict(ext=".nrrd", endian="big", encoding="raw"),
    "attached_gzip": dict(ext=".nrrd"),
}
MHA_KINDS = {
    "mha_local": dict(ext=".mha"),
    "mha_compressed_msb": dict(ext=".mha", compressed=True, msb=True),
    "mhd_raw": dict(ext=".mhd", data_file="{name}.raw"),
    "mhd_zraw": dict(ext=".mhd", compressed=True, data_file="{name}.zraw"),
}


def protect_kind(tmp_path: Path, writer, kind: dict):
    options = dict(kind)
    ext = options.pop("ext")
    image, label = dataset(tmp_path / "in", writer, "case", ext, **options)
    before = {p: p.read_bytes() for p in (tmp_path / "in").rglob("*") if p.is_file()}
    outcome = protect_folder(tmp_path / "in", tmp_path / "out", epsilon=5.0)
    assert not outcome.failures, outcome.failures
    after = {p: p.read_bytes() for p in (tmp_path / "in").rglob("*") if p.is_file()}
    assert after == before  # originals only read
    for part in volume_files(label):  # the label with every file it consists of, unchanged
        copied = tmp_path / "out/labels/final" / part
        assert copied.read_bytes() == (label.parent / part).read_bytes()
    assert not list((tmp_path / "out").glob(".medue-tmp*"))
    [case] = json.loads(outcome.manifest.read_text())["cases"]
    assert case["input_sha256"] != case["output_sha256"]  # the data file counts, not the header
    return image, tmp_path / "out" / image.name


@pytest.mark.parametrize("kind", sorted(NRRD_KINDS))
def test_nrrd_copy_keeps_header_and_data_files(kind, tmp_path):
    source, written = protect_kind(tmp_path, write_nrrd, NRRD_KINDS[kind])
    old_header = source.read_bytes().split(b"\n\n")[0]
    assert written.read_bytes().split(b"\n\n")[0] == old_header
    data_file = nrrd.read_header(str(source)).get("data file")
    if data_file:
        assert (written.parent / data_file).is_file()  # under its real name, beside the header
        assert written.read_bytes() == source.read_bytes()
    old, _ = nrrd.read(str(source))
    new, new_fields = nrrd.read(str(written))
    assert new.dtype == old.dtype
    change = new.astype(np.float64) - old
    assert 0 < np.abs(change).max() <= 5.0
    assert new_fields["encoding"] == nrrd.read_header(str(source))["encoding"]


def metaimage_header_lines(path: Path) -> list[bytes]:
    lines = []
    with path.open("rb") as stream:
        for line in stream:
            lines.append(line)
            if line.startswith(b"ElementDataFile"):
                return lines
    raise AssertionError("no ElementDataFile line")


def metaimage_values(path: Path) -> np.ndarray:
    lines = metaimage_header_lines(path)
    fields = dict(line.decode().strip().split(" = ", 1) for line in lines)
    numpy_type = {"MET_SHORT": "i2", "MET_UCHAR": "u1"}[fields["ElementType"]]
    order = ">" if fields["BinaryDataByteOrderMSB"] == "True" else "<"
    if fields["ElementDataFile"] == "LOCAL":
        data = path.read_bytes()[sum(map(len, lines)) :]
    else:
        data = (path.parent / fields["ElementDataFile"]).read_bytes()
    if fields["CompressedData"] == "True":
        assert int(fields["CompressedDataSize"]) == len(data)
        data = zlib.decompress(data)
    return np.frombuffer(data, order + numpy_type).astype(np.float64)


@pytest.mark.parametrize("kind", sorted(MHA_KINDS))
def test_metaimage_copy_keeps_header_and_data_files(kind, tmp_path):
    source, written = protect_kind(tmp_path, write_metaimage, MHA_KINDS[kind])
    old_lines, new_lines = metaimage_header_lines(source), metaimage_header_lines(written)
    differs = [a for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert all(line.startswith(b"CompressedDataSize") for line in differs)
    change = metaimage_values(written) - metaimage_values(source)
    assert 0 < np.abs(change).max() <= 5.0


@pytest.mark.parametrize(
    ("data_file", "problem"),
    [
        ("/abs/case.raw.gz", "outside the header's folder"),
        ("../case.raw.gz", "outside the header's folder"),
        ("LIST", "several files"),
        ("case%03d.raw 1 6 1", "several files"),
        ("missing.raw.gz", "does not exist"),
    ],
)
def test_nrrd_data_files_that_cannot_be_carried_are_refused(tmp_path, data_file, problem):
    header = tmp_path / "case.nhdr"
    header.write_bytes(nrrd_header("short", "little", "gzip", data_file))
    with pytest.raises(InputError) as error:
        read_volume(header)
    assert "case.nhdr" in str(error.value) and problem in str(error.value)


def test_nrrd_byte_skip_and_text_encoding_are_refused(tmp_path):
    skipped = tmp_path / "skip.nrrd"
    skipped.write_bytes(nrrd_header("short", "little", "raw", None).replace(
        b"encoding: raw\n", b"encoding: raw\nbyte skip: 16\n") + b"\n" + bytes(2320))  # fmt: skip
    text = tmp_path / "text.nrrd"
    text.write_bytes(nrrd_header("short", "little", "ascii", None) + b"\n" + b"1 " * 1152)
    for path, problem in ((skipped, "'byte skip' is not supported"), (text, "encoding")):
        with pytest.raises(InputError) as error:
            read_volume(path)
        assert path.name in str(error.value) and problem in str(error.value)


@pytest.mark.parametrize(
    ("data_file", "problem"),
    [("LIST", "several files"), ("../x.raw", "outside"), ("missing.raw", "does not exist")],
)
def test_metaimage_data_files_that_cannot_be_carried_are_refused(tmp_path, data_file, problem):
    header = tmp_path / "case.mhd"
    header.write_bytes(mhd_header("MET_SHORT", False, False, data_file))
    with pytest.raises(InputError) as error:
        read_volume(header)
    assert "case.mhd" in str(error.value) and problem in str(error.value)
