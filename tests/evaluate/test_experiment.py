"""``gather_material``: what a stored victim run is keyed on."""

from __future__ import annotations

import shutil
from pathlib import Path

from medue.evaluate.experiment import EvaluationSettings, gather_material


def _one_case_folder(dataset: Path, case: str, folder: Path) -> Path:
    (folder / "labels/final").mkdir(parents=True)
    shutil.copy(dataset / f"{case}.nii.gz", folder)
    shutil.copy(dataset / f"labels/final/{case}.nii.gz", folder / "labels/final")
    return folder


def test_runs_are_keyed_on_the_test_files_too(sample_dataset: Path, tmp_path: Path):
    """Same training files, another test set: no stored run may be reused."""
    settings = EvaluationSettings()
    tests = [_one_case_folder(sample_dataset, c, tmp_path / c) for c in ("brain2", "lung1")]
    first, second = (gather_material(sample_dataset, sample_dataset, settings, t) for t in tests)
    assert first.split.train == second.split.train
    for side in ("clean", "protected"):
        assert first.fingerprints[side] != second.fingerprints[side]
    again = gather_material(sample_dataset, sample_dataset, settings, tests[0])
    assert again.fingerprints == first.fingerprints
