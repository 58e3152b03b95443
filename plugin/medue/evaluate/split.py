"""Train/test split of a dataset by patient, so no patient is on both sides.

Slices or scans of one patient share anatomy, scanner and often the lesion itself; testing on a
patient the victim trained on would flatter it. The patient of a case is the DICOM PatientID when
the case is a DICOM series, otherwise the image id (file-based layouts carry no patient field —
put one patient per case, or pass the test ids explicitly).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pydicom

from medue.datasets import Case
from medue.errors import InputError


@dataclass(frozen=True)
class Split:
    """Image ids on each side; ``test`` never shares a patient with ``train``."""

    train: tuple[str, ...]
    test: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"train": list(self.train), "test": list(self.test)}


def patient_id(case: Case) -> str:
    """DICOM PatientID of a series folder when it has one, else the image id."""
    if case.image.is_dir():
        for path in sorted(case.image.iterdir()):
            try:
                header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
            except Exception:  # noqa: BLE001 - any unreadable file: try the next one
                continue
            if str(header.get("PatientID", "")).strip():
                return str(header.PatientID)
    return case.image_id


def split_by_patient(
    cases: Sequence[Case],
    test_fraction: float = 0.25,
    seed: int = 0,
    test_ids: Sequence[str] | None = None,
) -> Split:
    """Seeded split of whole patients; ``test_ids`` (image ids) overrides the draw."""
    ids = [case.image_id for case in cases]
    if test_ids:
        unknown = sorted(set(test_ids) - set(ids))
        if unknown:
            raise InputError(None, f"--test-cases not in the dataset: {', '.join(unknown)}")
        test = set(test_ids)
    else:
        test = _draw_test_patients(cases, test_fraction, seed)
    train = tuple(i for i in ids if i not in test)
    if not train or not test:
        raise InputError(None, f"cannot split {len(ids)} case(s) into non-empty train and test")
    return Split(train=train, test=tuple(i for i in ids if i in test))


def _draw_test_patients(cases: Sequence[Case], fraction: float, seed: int) -> set[str]:
    if not 0 < fraction < 1:
        raise InputError(None, f"--test-fraction must be between 0 and 1, got {fraction}")
    by_patient: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        by_patient[patient_id(case)].append(case.image_id)
    patients = sorted(by_patient)
    if len(patients) < 2:
        raise InputError(None, "need at least two patients to hold one out for testing")
    count = min(len(patients) - 1, max(1, math.ceil(fraction * len(patients))))
    chosen = np.random.default_rng(seed).permutation(len(patients))[:count]
    return {image_id for i in chosen for image_id in by_patient[patients[i]]}
