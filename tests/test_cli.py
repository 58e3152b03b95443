"""The ``medue`` console script as a user runs it: help, info, and one clear line per bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

MEDUE = str(Path(sys.executable).parent / "medue")


def medue(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([MEDUE, *map(str, args)], capture_output=True, text=True, timeout=300)


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture(scope="module")
def mixed_folder(sample_dataset: Path, tmp_path_factory) -> Path:
    """A datastore folder with two good cases and one of every kind of bad input."""
    folder = tmp_path_factory.mktemp("mixed")
    labels = folder / "labels/final"
    labels.mkdir(parents=True)
    for case in ("brain1", "lung2"):
        shutil.copy(sample_dataset / f"{case}.nii.gz", folder)
        shutil.copy(sample_dataset / f"labels/final/{case}.nii.gz", labels)
    data = (sample_dataset / "brain2.nii.gz").read_bytes()
    (folder / "truncated.nii.gz").write_bytes(data[: len(data) // 3])
    (folder / "notes.nii.gz").write_text("this is not an image")
    shutil.copy(sample_dataset / "breast1.nii.gz", folder / "offgrid.nii.gz")
    shutil.copy(sample_dataset / "labels/final/brain1.nii.gz", labels / "offgrid.nii.gz")
    sitk.WriteImage(
        sitk.JoinSeries([sitk.Image([8, 8, 8], sitk.sitkInt16)] * 2), str(folder / "dyn.nii.gz")
    )
    shutil.copy(sample_dataset / "brain2.nii.gz", folder / "empty.nii.gz")
    sitk.WriteImage(
        sitk.ReadImage(str(sample_dataset / "labels/final/brain2.nii.gz")) * 0,
        str(labels / "empty.nii.gz"),
    )
    nan = np.ones((4, 16, 16), np.float32)
    nan[0, 0, 0] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(nan), str(folder / "nan.nii.gz"))
    broken = folder / "broken_series"
    broken.mkdir()
    (broken / "a.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\1" * 64)
    return folder


def test_help_lists_commands():
    result = medue("--help")
    assert result.returncode == 0 and "info" in result.stdout


def test_info_on_the_sample_dataset(sample_dataset: Path):
    result = medue("info", sample_dataset, "--json")
    assert result.returncode == 0, result.stderr
    cases = {c["image_id"]: c for c in json.loads(result.stdout)["cases"]}
    assert set(cases) == {"brain1", "brain2", "breast1", "lung1", "lung2"}
    lung = cases["lung1"]
    assert lung["modality"] == "CT" and lung["size_xyz"][:2] == [512, 512]
    assert lung["label_classes"] == [1] and lung["roi_voxels"] > 0


def test_info_on_a_dicom_series(sample_dicom_series: Path):
    result = medue("info", sample_dicom_series)
    assert result.returncode == 0, result.stderr
    assert "dicom CT 512x512" in result.stdout


def test_mixed_folder_handles_the_good_and_lists_the_bad(mixed_folder: Path):
    result = medue("info", mixed_folder)
    assert_clean_error(
        result,
        "7 of 9 inputs failed",
        "broken_series: no readable DICOM series",
        "truncated.nii.gz: cannot be read",
        "notes.nii.gz: cannot be read",
        "offgrid.nii.gz: label size",
        "dyn.nii.gz: is 4D",
        "empty.nii.gz: label map is empty",
        "nan.nii.gz: contains 1 NaN",
    )
    assert result.stdout.startswith("brain1:") and "lung2:" in result.stdout
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.nii.gz", "cannot be read"),
        ("dyn.nii.gz", "is 4D"),
        ("nan.nii.gz", "contains 1 NaN"),
        ("broken_series", "no readable DICOM series"),
        ("missing.nii.gz", "path does not exist"),
    ],
)
def test_single_bad_input_gives_one_line(mixed_folder: Path, name: str, message: str):
    result = medue("info", mixed_folder / name)
    assert_clean_error(result, f"{name}: {message}")
    assert len(result.stderr.strip().splitlines()) <= 3
