"""The sample-data builder: layout, fidelity to the source NRRDs, the DICOM copy, idempotence."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.conftest import load_builder

REPO = Path(__file__).resolve().parent.parent
BUILDER = REPO / "sample_data" / "build.py"
CASES = ["brain1", "brain2", "breast1", "lung1", "lung2"]
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    """The builder script as a module (the same module object conftest uses)."""
    return load_builder()


@pytest.fixture(scope="module")
def source_dir(builder: ModuleType, sample_data_dir: Path) -> Path:
    """The extracted pyradiomics NRRDs in the download cache (present after any build)."""
    return builder.ensure_source()


def read(path: Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=TOLERANCE)


def test_datastore_layout(sample_dataset: Path):
    images = sorted(p.name for p in sample_dataset.glob("*.nii.gz"))
    labels = sorted(p.name for p in (sample_dataset / "labels/final").glob("*.nii.gz"))
    assert images == labels == [f"{case}.nii.gz" for case in CASES]
    assert not list(sample_dataset.rglob(".tmp-*"))


@pytest.mark.parametrize("case", CASES)
def test_label_is_a_nonempty_binary_mask_on_the_image_grid(sample_dataset: Path, case: str):
    image = read(sample_dataset / f"{case}.nii.gz")
    label = read(sample_dataset / "labels/final" / f"{case}.nii.gz")
    assert label.GetPixelID() == sitk.sitkUInt8
    assert_same_geometry(label, image)
    counts = np.bincount(sitk.GetArrayViewFromImage(label).ravel())
    assert len(counts) == 2 and counts.all()  # only 0 and 1, and both present


@pytest.mark.parametrize("case", CASES)
def test_case_equals_the_source_nrrd(sample_dataset: Path, source_dir: Path, case: str):
    image = read(sample_dataset / f"{case}.nii.gz")
    source = read(source_dir / f"{case}_image.nrrd")
    assert image.GetPixelID() == source.GetPixelID()
    assert_same_geometry(image, source)
    assert np.array_equal(sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(source))
    label = sitk.GetArrayFromImage(read(sample_dataset / "labels/final" / f"{case}.nii.gz"))
    source_label = sitk.GetArrayFromImage(read(source_dir / f"{case}_label.nrrd"))
    assert np.array_equal(label, source_label)


def read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_dicom_series_reads_back_as_lung1_in_hu(sample_dataset: Path, sample_dicom_series: Path):
    lung1 = read(sample_dataset / "lung1.nii.gz")
    series = read_series(sample_dicom_series)
    assert_same_geometry(series, lung1)
    assert np.array_equal(sitk.GetArrayViewFromImage(series), sitk.GetArrayViewFromImage(lung1))
    label = read(sample_dicom_series.parent / "lung1_label.nii.gz")
    assert_same_geometry(label, series)
    assert sitk.GetArrayViewFromImage(label).sum() == 837


def test_dicom_slices_carry_the_required_attributes(sample_dicom_series: Path):
    files = sorted(sample_dicom_series.iterdir())
    assert [f.name for f in files] == [f"slice_{k:04d}.dcm" for k in range(48)]
    slices = [pydicom.dcmread(f) for f in files]
    first = slices[0]
    meta = first.file_meta
    assert first.preamble == b"\0" * 128
    assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert first.SOPClassUID == meta.MediaStorageSOPClassUID == pydicom.uid.CTImageStorage
    for attribute in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({ds.get(attribute) for ds in slices}) == 1
    assert len({ds.SOPInstanceUID for ds in slices}) == 48
    assert [ds.InstanceNumber for ds in slices] == list(range(1, 49))
    expected = {
        "Modality": "CT",
        "PatientName": "MedUE^Sample",
        "PatientID": "MEDUE-LUNG1",
        "BitsAllocated": 16,
        "BitsStored": 16,
        "HighBit": 15,
        "PixelRepresentation": 1,
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "RescaleSlope": 1,
        "RescaleIntercept": -1024,
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "PixelSpacing": [0.5703125, 0.5703125],
        "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
        "SliceThickness": 5,
        "Rows": 512,
        "Columns": 512,
    }
    assert {key: first.get(key) for key in expected} == expected
    z = [float(ds.ImagePositionPatient[2]) for ds in slices]
    np.testing.assert_allclose(np.diff(z), 5.0, atol=TOLERANCE)
    assert first.pixel_array.dtype == np.int16 and first.pixel_array.min() >= 0


def test_provenance_names_the_source(sample_data_dir: Path, builder: ModuleType):
    text = (sample_data_dir / "PROVENANCE.txt").read_text()
    assert builder.SDIST_SHA256 in text and "pyradiomics 3.0.1" in text
    assert (sample_data_dir / ".built").read_text().strip() == builder.BUILD_VERSION


def test_second_build_is_a_noop(sample_data_dir: Path, builder: ModuleType, capsys):
    stamp = sample_data_dir / ".built"
    before = stamp.stat().st_mtime_ns
    started = time.monotonic()
    assert builder.main(["--out", str(sample_data_dir)]) == 0
    assert time.monotonic() - started < 1.0
    assert capsys.readouterr().out == f"sample data up to date in {sample_data_dir}\n"
    assert stamp.stat().st_mtime_ns == before


def test_script_reports_up_to_date(sample_data_dir: Path):
    result = subprocess.run(
        [sys.executable, str(BUILDER), "--out", str(sample_data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sample data up to date in")


def test_stale_build_is_replaced_whole(builder: ModuleType, sample_data_dir: Path, tmp_path: Path):
    out = tmp_path / "build"
    out.mkdir()
    (out / ".built").write_text("an-older-version\n")
    (out / "leftover.txt").write_text("from the old build")
    assert builder.main(["--out", str(out)]) == 0
    assert not (out / "leftover.txt").exists()
    assert (out / ".built").read_text().strip() == builder.BUILD_VERSION
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]  # no temp folders left
    assert len(list((out / "dicom/lung1").glob("*.dcm"))) == 48


def test_checksum_mismatch_is_one_clear_error(builder: ModuleType, tmp_path: Path):
    fake = tmp_path / builder.SDIST
    fake.write_bytes(b"not the pyradiomics archive")
    with pytest.raises(builder.BuildError, match=r"expected 47c57f44.*refusing to build"):
        builder.verify_sha256(fake)


def make_tar(path: Path, members: dict[str, bytes | None]) -> None:
    """A .tar.gz whose members are files (bytes) or symlinks (None)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_extraction_takes_only_data_nrrds(builder: ModuleType, tmp_path: Path):
    archive = tmp_path / "a.tar.gz"
    make_tar(
        archive,
        {
            "pkg/data/a_image.nrrd": b"a",
            "pkg/data/baseline/b.nrrd": b"b",
            "pkg/data/README.md": b"c",
            "pkg/setup.py": b"d",
        },
    )
    written = builder.extract_data_nrrds(archive, tmp_path / "out")
    assert [p.name for p in written] == ["a_image.nrrd"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_image.nrrd"]


@pytest.mark.parametrize("member", ["../data/x.nrrd", "pkg/data/link.nrrd"])
def test_extraction_refuses_unsafe_members(builder: ModuleType, tmp_path: Path, member: str):
    archive = tmp_path / "a.tar.gz"
    make_tar(archive, {member: None if "link" in member else b"x"})
    with pytest.raises(builder.BuildError, match="unsafe archive member"):
        builder.extract_data_nrrds(archive, tmp_path / "out")
    assert not (tmp_path / "x.nrrd").exists()
