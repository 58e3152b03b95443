"""Case discovery in the three supported layouts, and case loading checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medue.datasets import discover_cases, load_case
from medue.errors import InputError

CASES = ["brain1", "brain2", "breast1", "lung1", "lung2"]


def test_monai_label_datastore_layout(sample_dataset: Path):
    cases = discover_cases(sample_dataset)
    assert [c.image_id for c in cases] == CASES
    assert all(c.label == sample_dataset / "labels/final" / f"{c.image_id}.nii.gz" for c in cases)


def test_pairs_in_one_folder_and_dicom_subfolders(sample_dataset, sample_dicom_series, tmp_path):
    shutil.copy(sample_dataset / "brain1.nii.gz", tmp_path / "brain1_image.nii.gz")
    shutil.copy(sample_dataset / "labels/final/brain1.nii.gz", tmp_path / "brain1_label.nii.gz")
    shutil.copytree(sample_dicom_series, tmp_path / "lung1_ct")
    (tmp_path / "datastore_v2.json").write_text("{}")
    cases = discover_cases(tmp_path)
    assert [(c.image_id, c.label and c.label.name) for c in cases] == [
        ("brain1", "brain1_label.nii.gz"),
        ("lung1_ct", None),
    ]


def test_decathlon_layout(sample_dataset, tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    shutil.copy(sample_dataset / "lung2.nii.gz", tmp_path / "imagesTr/lung2_0000.nii.gz")
    shutil.copy(sample_dataset / "labels/final/lung2.nii.gz", tmp_path / "labelsTr/lung2.nii.gz")
    shutil.copy(sample_dataset / "lung2.nii.gz", tmp_path / "imagesTr/lung2_0001.nii.gz")
    (tmp_path / "imagesTs").mkdir()
    shutil.copy(sample_dataset / "lung1.nii.gz", tmp_path / "imagesTs/lung1_0000.nii.gz")
    cases = discover_cases(tmp_path)
    assert [(c.image_id, c.label and c.label.name) for c in cases] == [
        ("lung1_0000", None),  # a test image: no label, so named when it cannot be protected
        ("lung2", "lung2.nii.gz"),
        ("lung2_0001", "lung2.nii.gz"),  # every channel of a case gets the case's label
    ]


def test_load_case_checks_the_roi(sample_dataset, tmp_path):
    case = discover_cases(sample_dataset)[0]
    loaded = load_case(case)
    assert loaded.label.shape == loaded.image.shape and loaded.label.any()
    empty = sitk.ReadImage(str(case.label)) * 0
    (tmp_path / "labels/final").mkdir(parents=True)
    shutil.copy(case.image, tmp_path / case.image.name)
    sitk.WriteImage(empty, str(tmp_path / "labels/final" / case.label.name))
    [bad] = discover_cases(tmp_path)
    with pytest.raises(InputError, match="label map is empty"):
        load_case(bad)
    assert not np.any(sitk.GetArrayFromImage(empty))


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        discover_cases(tmp_path / "nope")
