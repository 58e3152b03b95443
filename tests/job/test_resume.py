"""A protect job run again into the same folder resumes: finished cases are kept as they are,
also after ``kill -9`` in the middle of the apply phase; changed settings redo everything."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medue.budget import BudgetRequest
from medue.datasets import discover_cases
from medue.io.atomic import TMP_PREFIX
from medue.job import ProtectSettings, protect_dataset
from tests.layout import private

MEDUE = str(Path(sys.executable).parent / "medue")


@pytest.fixture
def many_cases(sample_dataset: Path, tmp_path) -> Path:
    """Twelve cases: the small sample images under new names (breast1 and brain2, six times)."""
    folder = tmp_path / "many"
    (folder / "labels/final").mkdir(parents=True)
    for copy in range(6):
        for case in ("breast1", "brain2"):
            shutil.copy(sample_dataset / f"{case}.nii.gz", folder / f"{case}_{copy}.nii.gz")
            shutil.copy(sample_dataset / f"labels/final/{case}.nii.gz",
                        folder / f"labels/final/{case}_{copy}.nii.gz")  # fmt: skip
    return folder


def stamps(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*.nii.gz")}


def test_a_rerun_keeps_every_finished_case_and_changed_settings_redo_them(two_cases, tmp_path):
    out = tmp_path / "out"
    first = protect_dataset(two_cases, discover_cases(two_cases), out, ProtectSettings())
    before = stamps(out)
    again = protect_dataset(two_cases, discover_cases(two_cases), out, ProtectSettings())
    assert stamps(out) == before  # nothing rewritten
    assert [r.kept for r in first.results] == [False, False]
    assert [r.kept for r in again.results] == [True, True]  # said, and recorded below
    assert [r.as_dict() | {"kept": False} for r in again.results] == [
        r.as_dict() for r in first.results
    ]
    manifest = json.loads(again.manifest.read_text())
    assert len(manifest["cases"]) == 2 and manifest["removed_stale"] == []
    assert [case["kept"] for case in manifest["cases"]] == [True, True]
    assert manifest["summary"]["kept_from_earlier_run"] == 2
    assert manifest["summary"]["written_now"] == 0
    strong = ProtectSettings(budget=BudgetRequest(preset="strong"))
    redone = protect_dataset(two_cases, discover_cases(two_cases), out, strong)
    after = stamps(out)
    assert all(after[p] != before[p] for p in before if "/labels/" not in p)
    assert redone.results[0].epsilon_native > first.results[0].epsilon_native


def test_kill_9_mid_apply_then_resume_writes_every_file_once(many_cases, tmp_path):
    out = tmp_path / "out"
    command = [MEDUE, "protect", str(many_cases), str(out), "--no-progress"]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    record = private(out) / "cases.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        # a case is recorded finished *ahead* of the move of its copy (write-ahead), so only
        # once the third case is recorded are the first two copies certainly in place
        if record.is_file() and len(record.read_text().splitlines()) >= 3:
            job.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert job.wait(timeout=60) == -signal.SIGKILL, "the job finished before it could be killed"
    done = {json.loads(line)["output"] for line in record.read_text().splitlines()[:2]}
    written = {p: t for p, t in stamps(out).items() if p in done}
    assert len(written) == 2
    (out / f"{TMP_PREFIX}dead-breast1_5.nii.gz").write_bytes(b"half a file")  # as a kill leaves
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "protected 12 images" in resumed.stdout
    after = stamps(out)
    assert all(after[p] == t for p, t in written.items())  # kept, not written again
    manifest = json.loads((private(out) / "manifest.json").read_text())
    assert len(manifest["cases"]) == 12 and not manifest["failed"]
    assert not list(out.rglob(f"{TMP_PREFIX}*"))  # no half-written file left behind
    kept = {case["output"] for case in manifest["cases"] if case["kept"]}
    assert set(written) <= kept and len(kept) < 12  # what landed before the kill, no more
    assert manifest["summary"]["kept_from_earlier_run"] == len(kept)
    assert manifest["summary"]["written_now"] == 12 - len(kept)
    said = f"({len(kept)} kept as an earlier run wrote them, {12 - len(kept)} written now)"
    assert said in resumed.stdout


def test_a_rerun_of_a_fitted_method_reuses_its_saved_fit(two_cases, tmp_path):
    # A fitted method's saved file records its own fit time, so fitting again would never give
    # the same file: the rerun must apply the saved one instead (and fit nothing).
    out = tmp_path / "out"
    settings = ProtectSettings(method="emn", iterations=1)
    protect_dataset(two_cases, discover_cases(two_cases), out, settings)
    before = stamps(out)
    generator = private(out) / "generator.pt"
    saved = generator.stat().st_mtime_ns
    phases: list[str] = []
    protect_dataset(two_cases, discover_cases(two_cases), out, settings,
                    progress=lambda phase, done, total: phases.append(phase))  # fmt: skip
    assert "fit" not in phases
    assert stamps(out) == before and generator.stat().st_mtime_ns == saved


class Killed(BaseException):
    """A ``kill -9`` at this instant: no handler of the job's runs after it."""


def _kill_after(monkeypatch, owner, name: str, when=lambda *args: True) -> None:
    """Make ``owner.name`` do its work, then kill the job (the first time ``when(*args)``)."""
    original = getattr(owner, name)

    def then_killed(*args, **kwargs):
        result = original(*args, **kwargs)
        if when(*args):
            raise Killed(name)
        return result

    monkeypatch.setattr(owner, name, then_killed)


@pytest.mark.parametrize(
    "instant", ["label copied", "image journaled", "case recorded", "image moved into place"]
)
def test_a_kill_at_any_instant_of_a_case_resumes_writing_every_file_once(
    two_cases, tmp_path, monkeypatch, instant
):
    import medue.io  # noqa: PLC0415
    import medue.job.apply_cases  # noqa: PLC0415
    from medue.job.record import ReleaseRecord  # noqa: PLC0415
    from medue.job.resume import FinishedCases  # noqa: PLC0415

    out = tmp_path / "out"
    image = lambda *args: "labels" not in str(args[-1])  # noqa: E731
    if instant == "label copied":
        _kill_after(monkeypatch, medue.job.apply_cases, "copy_label")
    elif instant == "image journaled":
        _kill_after(monkeypatch, ReleaseRecord, "add", image)
    elif instant == "case recorded":
        _kill_after(monkeypatch, FinishedCases, "add")
    else:
        _kill_after(monkeypatch, medue.io, "commit_staged")
    with pytest.raises(Killed):
        protect_dataset(two_cases, discover_cases(two_cases), out, ProtectSettings())
    monkeypatch.undo()
    landed = {p: (Path(p).stat().st_ino, t) for p, t in stamps(out).items()}
    assert landed or instant != "label copied"  # the instant happened with a file in place
    again = protect_dataset(two_cases, discover_cases(two_cases), out, ProtectSettings())
    assert len(again.results) == 2 and not again.failures
    after = {p: (Path(p).stat().st_ino, t) for p, t in stamps(out).items()}
    assert {p: after[p] for p in landed} == landed  # in place at the kill: never written again
    assert len(after) == 4  # two copies, two labels
    assert all((private(out) / "figures" / f"{c}.png").is_file() for c in ("breast1", "brain2"))
    assert not list(out.rglob(f"{TMP_PREFIX}*"))
