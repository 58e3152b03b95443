"""Splitting by patient: no patient on both sides, seeded, explicit test ids honoured."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from medue.datasets import Case, discover_cases
from medue.errors import InputError
from medue.evaluate.split import patient_id, split_by_patient


def test_split_is_seeded_and_disjoint(sample_dataset: Path):
    cases = discover_cases(sample_dataset)
    first = split_by_patient(cases, test_fraction=0.4, seed=3)
    again = split_by_patient(cases, test_fraction=0.4, seed=3)
    assert first == again
    assert len(first.test) == 2 and len(first.train) == 3
    assert not set(first.train) & set(first.test)


def test_explicit_test_cases(sample_dataset: Path):
    split = split_by_patient(discover_cases(sample_dataset), test_ids=["brain2", "lung2"])
    assert split.test == ("brain2", "lung2")
    assert split.train == ("brain1", "breast1", "lung1")
    with pytest.raises(InputError, match="not in the dataset: nobody"):
        split_by_patient(discover_cases(sample_dataset), test_ids=["nobody"])


def test_bad_fraction_and_single_patient(sample_dataset: Path):
    cases = discover_cases(sample_dataset)
    with pytest.raises(InputError, match="between 0 and 1"):
        split_by_patient(cases, test_fraction=1.0)
    with pytest.raises(InputError, match="at least two patients"):
        split_by_patient(cases[:1])


def test_dicom_series_patient_id(sample_dicom_series: Path):
    case = Case("lung1", sample_dicom_series)
    first = sorted(sample_dicom_series.iterdir())[0]
    assert patient_id(case) == str(pydicom.dcmread(first).PatientID)
