"""The "checked against" section: a real victim check of a written release (medue.job.check)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from medue.datasets import discover_cases
from medue.job import ProtectSettings, protect_dataset
from medue.job.check import CheckSettings, check_release, check_written_release, verdict
from medue.job.regime import pattern_regime
from medue.methods.base import Cancelled
from medue.report import check_section
from tests.conftest import torch_threads
from tests.layout import private
from tests.test_cli_protect import medue

QUICK = CheckSettings(countermeasures=("none", "median"), epochs=1)


@dataclass
class Checked:
    output: Path
    manifest: Path
    report: Path
    checked: dict


@pytest.fixture(scope="module")
def checked(two_cases: Path, tmp_path_factory) -> Checked:
    """A checkerboard release of two sample cases, then a quick check of it (the CLI's steps)."""
    out = tmp_path_factory.mktemp("checked") / "release"
    settings = ProtectSettings(method="checkerboard", check=QUICK)
    with torch_threads(1):
        outcome = protect_dataset(two_cases, discover_cases(two_cases), out, settings)
        section = check_written_release(two_cases, outcome.output, settings.check)
    return Checked(outcome.output, outcome.manifest, outcome.report, section)


def test_protect_alone_never_loads_the_evaluation_engine(two_cases: Path, tmp_path):
    """The check is the caller's step: the job layer does not reach back up into evaluate."""
    code = (
        "import sys; from pathlib import Path; from medue.datasets import discover_cases; "
        "from medue.job import ProtectSettings, protect_dataset; "
        f"d = Path({str(two_cases)!r}); "
        f"protect_dataset(d, discover_cases(d), Path({str(tmp_path / 'out')!r}), "
        "ProtectSettings(method='random', check=None)); "
        "print([m for m in sys.modules if m.startswith(('medue.evaluate', 'medue.job.check'))])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_check_scores_the_written_release_under_each_countermeasure(checked):
    section = checked.checked
    assert section["status"] == "checked"
    assert [r["countermeasure"] for r in section["rows"]] == ["none", "median"]
    for row in section["rows"]:  # both attackers, each with its clean reference
        for prefix in ("", "release_only_"):
            assert 0.0 <= row[f"{prefix}clean_dsc"] <= 1.0
            assert 0.0 <= row[f"{prefix}protected_dsc"] <= 1.0
            assert row[f"{prefix}ratio"] == pytest.approx(
                row[f"{prefix}protected_dsc"] / row[f"{prefix}clean_dsc"]
            )
    assert section["test_cases"]  # held-out patients, named
    details = Path(section["details"])
    assert (details / "results.md").is_file() and (details / "runs.json").is_file()
    assert details.parent == private(checked.output)  # beside the report, not among the images


def test_check_lands_in_manifest_and_report(checked):
    manifest = json.loads(checked.manifest.read_text())
    assert manifest["checked_against"] == json.loads(json.dumps(checked.checked))
    assert manifest["settings"]["check"]["countermeasures"] == ["none", "median"]
    page = checked.report.read_text()
    assert "Checked against the attacker's countermeasures" in page
    assert checked.checked["verdict"].split(":")[0] in page
    assert "<td>median</td>" in page
    assert "attacker with only the release" in page
    assert "attacker who early-stops on clean data" in page


def test_check_of_a_single_image_says_why_it_did_not_run(sample_dataset: Path, tmp_path):
    section = check_release(sample_dataset / "brain1.nii.gz", tmp_path, tmp_path / "c", QUICK)
    assert section["status"] == "not run"
    assert "not a dataset folder" in section["reason"]
    assert "Not checked: the input is not a dataset folder" in check_section(section)


def test_unchecked_report_says_how_to_check():
    assert "Not checked on this data" in check_section(None)
    assert "--check" in check_section(None)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [  # (countermeasure, clean DSC, protected DSC: release only, protected DSC: early stopping)
        ([("none", 0.30, 0.01, 0.01)], "inconclusive"),
        ([("none", 0.80, 0.05, 0.10), ("median", 0.80, 0.10, 0.20)], "protected: against both"),
        (
            [("none", 0.80, 0.05, 0.10), ("median", 0.80, 0.10, 0.70)],
            "not protected: the victim keeps more than 30% of its clean DSC for the attacker who "
            "early-stops on clean data under median",
        ),
        (
            [("none", 0.80, 0.50, 0.10), ("median", 0.80, 0.10, 0.70)],
            "not protected: the victim keeps more than 30% of its clean DSC for the attacker with "
            "only the release under none; and for the attacker who early-stops on clean data "
            "under median",
        ),
    ],
)
def test_verdict_judges_both_attackers(rows, expected):
    dicts = [
        {
            "countermeasure": c,
            "clean_dsc": clean,
            "protected_dsc": stopped,
            "ratio": stopped / clean,
            "release_only_clean_dsc": clean,
            "release_only_protected_dsc": release_only,
            "release_only_ratio": release_only / clean,
        }
        for c, clean, release_only, stopped in rows
    ]
    assert verdict(dicts).startswith(expected)


def test_cli_check_prints_the_verdict(two_cases: Path, tmp_path):
    out = tmp_path / "out"
    result = medue("protect", two_cases, out, "--method", "random", "--check",
                   "--check-epochs", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "check verdict:" in result.stdout
    assert "attacker with only the release: none" in result.stdout
    assert "attacker who early-stops on clean data: none" in result.stdout
    assert "median" in result.stdout and "pgd" in result.stdout  # the whole default suite
    manifest = json.loads((private(out) / "manifest.json").read_text())
    assert len(manifest["checked_against"]["rows"]) == 7
    bad = medue("protect", two_cases, tmp_path / "o2", "--check", "--check-epochs", "0")
    assert bad.returncode == 2 and "--check-epochs must be at least 1" in bad.stderr


def test_cancelled_check_leaves_a_complete_unchecked_release(two_cases: Path, tmp_path):
    """Cancel as soon as the first victim run is done: images, manifest and report are all there."""
    cancel = threading.Event()

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "victims":
            cancel.set()

    out = tmp_path / "release"
    settings = ProtectSettings(method="random", check=QUICK)
    protect_dataset(two_cases, discover_cases(two_cases), out, settings, None, progress, cancel)
    with pytest.raises(Cancelled), torch_threads(1):
        check_written_release(two_cases, out, settings.check, progress, cancel)
    manifest = json.loads((private(out) / "manifest.json").read_text())
    assert manifest["checked_against"] is None and len(manifest["cases"]) == 2
    assert "Not checked on this data" in (private(out) / "report.html").read_text()


def case(epsilon: float, fine_noise: float) -> dict:
    return {"epsilon_native": epsilon, "metrics": {"noise_sigma_fine": fine_noise}}


@pytest.mark.parametrize(
    ("cases", "regime"),
    [  # the two measured datasets: DRIVE (eps 2, fine noise ~1) and MSD lung CT (noise ~17)
        ([case(2, 0.96), case(2, 1.0), case(1, 1.1)], "shortcut"),
        ([case(8, 17.5), case(4, 17.0)], "buried"),
        ([case(1, 1.0)], "between"),
        ([{"epsilon_native": 2, "metrics": {}}], None),
    ],
)
def test_the_regime_is_read_from_the_pattern_against_the_fine_scale_noise(cases, regime):
    found = pattern_regime(cases)
    assert (found and found["regime"]) == regime
    if found:
        assert f"{found['epsilon_over_fine_noise']:.2g}x" in found["sentence"]


def test_the_check_verdict_names_the_regime(checked):
    regime = checked.checked["regime"]
    assert regime is not None and regime["regime"] in ("shortcut", "buried", "between")
    assert checked.checked["verdict"].endswith(regime["sentence"])


def test_a_rerun_that_keeps_every_file_keeps_the_check(checked, two_cases: Path):
    """The check scored these very files: a resume that rewrote nothing must not drop it."""
    with torch_threads(1):
        again = protect_dataset(two_cases, discover_cases(two_cases), checked.output,
                                ProtectSettings(method="checkerboard"))  # fmt: skip
    assert all(result.kept for result in again.results)
    manifest = json.loads(again.manifest.read_text())
    assert manifest["checked_against"] == json.loads(json.dumps(checked.checked))
    assert checked.checked["verdict"].split(":")[0] in again.report.read_text()
