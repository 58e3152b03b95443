"""``medue evaluate`` as a user runs it, on real sample cases and a real protected copy (the two
small cases: victims train on breast1 and are tested on brain2, so the flow, not the learning, is
what these tests pay for; ``tests/evaluate`` checks that victims learn)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.test_cli_protect import medue


@pytest.fixture(scope="module")
def release(two_cases: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "protected"
    result = medue("protect", two_cases, out, "--method", "checkerboard", "--preset", "strong")
    assert result.returncode == 0, result.stderr
    return out


def test_evaluate_writes_results_and_resumes(two_cases: Path, release: Path, tmp_path):
    args = ("evaluate", two_cases, release, tmp_path / "ev", "--test-cases", "brain2",
            "--victims", "unet", "--seeds", "0", "--epochs", "1")  # fmt: skip
    first = medue(*args)
    assert first.returncode == 0, first.stderr
    results = json.loads((tmp_path / "ev/results.json").read_text())
    assert results["split"]["test"] == ["brain2"]
    assert len(results["runs"]) == 2  # clean and protected
    assert {r["spec"]["source"] for r in results["runs"]} == {"clean", "protected"}
    assert 0 <= results["rows"][0]["protected_best"][0] <= 1
    assert 40 < results["imperceptibility"]["psnr_db_mean"] < 200
    assert (tmp_path / "ev/learning_curves.png").stat().st_size > 1000
    assert "| unet | none | 1 |" in first.stdout
    stored = (tmp_path / "ev/runs.json").read_text()
    started = time.monotonic()
    second = medue(*args)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "ev/runs.json").read_text() == stored  # reused, not retrained
    assert time.monotonic() - started < 60


def test_evaluate_refuses_a_copy_missing_training_cases(sample_dataset: Path, tmp_path):
    partial = tmp_path / "partial"
    (partial / "labels/final").mkdir(parents=True)
    for name in ("brain1.nii.gz", "brain2.nii.gz"):
        (partial / name).write_bytes((sample_dataset / name).read_bytes())
    result = medue("evaluate", sample_dataset, partial, tmp_path / "ev", "--test-cases", "brain2")
    assert result.returncode == 2
    assert "protected copy lacks training case(s): breast1, lung1, lung2" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_compares_releases_side_by_side(two_cases: Path, release: Path, tmp_path):
    other = tmp_path / "random"
    made = medue("protect", two_cases, other, "--method", "random", "--preset", "balanced")
    assert made.returncode == 0, made.stderr
    out = tmp_path / "cmp"
    result = medue("evaluate", two_cases, release, other, out, "--test-cases", "brain2",
                   "--victims", "unet", "--seeds", "0", "--epochs", "1",
                   "--countermeasures", "none", "median")  # fmt: skip
    assert result.returncode == 0, result.stderr
    for label in ("checkerboard-strong", "random-balanced"):
        assert (out / label / "results.json").is_file()
        assert f"| {label} | unet |" in result.stdout
    assert "| none | median |" in (out / "comparison.md").read_text()
    assert (out / "countermeasures.png").stat().st_size > 1000
    runs = json.loads((out / "runs.json").read_text())
    clean_runs = [r for r in runs.values() if r["spec"]["source"] == "clean"]
    assert len(clean_runs) == 2  # one per countermeasure, shared by both releases
