"""Two gloo processes under torchrun (``--nproc 2``) on the sample data: the sharded apply writes
exactly the single-process release and one merged manifest; a UMed fit trains data-parallel and
saves a generator in the single-process format whose release stays within the stated tolerance
(docs/METHODS.md); a rank killed mid-apply leaves a job that resumes with every file written once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

from medue import distributed
from medue.datasets import discover_cases
from medue.io.atomic import TMP_PREFIX
from medue.job import ProtectSettings, protect_dataset
from medue.job.outputs import rank_file
from medue.job.run import read_and_prepare
from medue.methods import load_perturber
from tests.conftest import REPO, torch_threads
from tests.layout import private

ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'plugin'}:{REPO}", "OMP_NUM_THREADS": "1"}


def medue(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "medue.cli", *args, "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV)


def copies(sample_dataset: Path, folder: Path, count: int) -> Path:
    """``count`` copies of the two small sample cases (breast1, brain2) under new names."""
    (folder / "labels/final").mkdir(parents=True)
    for copy in range(count):
        for case in ("breast1", "brain2"):
            name = f"{case}_{copy}.nii.gz"
            shutil.copy(sample_dataset / f"{case}.nii.gz", folder / name)
            shutil.copy(
                sample_dataset / f"labels/final/{case}.nii.gz", folder / "labels/final" / name
            )
    return folder


def files(out: Path) -> dict[str, bytes]:
    """Every image, label and figure of a folder, by path inside it."""
    found = [p for p in out.rglob("*") if p.suffix in (".gz", ".png", ".zip")]
    return {str(p.relative_to(out)): p.read_bytes() for p in found}


def released(out: Path) -> list[Path]:
    """The image and label files in a release (not its half-written leftovers)."""
    return [p for p in out.rglob("*.nii.gz") if TMP_PREFIX not in str(p)]


def journaled(out: Path) -> list[str]:
    """Every write the journals of ``out`` record (one line per file landed)."""
    lines = []
    for journal in private(out).glob("journal*.jsonl"):
        lines += [json.loads(line)["output"] for line in journal.read_text().splitlines()]
    return lines


def test_helpers_shard_name_and_strip():
    ranks = [distributed.Ranks(rank, 3) for rank in range(3)]
    shards = [r.shard(list(range(8))) for r in ranks]
    assert shards == [[0, 3, 6], [1, 4, 7], [2, 5]]
    assert rank_file("cases.jsonl", 0) == "cases.jsonl"
    assert rank_file("cases.jsonl", 2) == "cases.rank2.jsonl"
    assert distributed.strip_nproc(["protect", "a", "--nproc", "2", "--nproc=3", "b"]) == [
        "protect", "a", "b",
    ]  # fmt: skip
    assert distributed.ranks() == distributed.Ranks()  # no torchrun here: one process


def test_two_ranks_write_the_single_process_release_and_one_manifest(sample_dataset, tmp_path):
    data = copies(sample_dataset, tmp_path / "data", 2)
    with torch_threads(1):
        one = protect_dataset(data, discover_cases(data), tmp_path / "one", ProtectSettings())
    key = str(one.private / "key")  # the same key: the same release
    two = medue("protect", str(data), str(tmp_path / "two"), "--nproc", "2", "--key-file", key)
    assert two.returncode == 0, two.stderr
    assert "protected 4 images" in two.stdout
    assert files(tmp_path / "two") == files(one.output)  # byte-identical images, labels
    assert files(private(tmp_path / "two")) == files(one.private)  # figures, restore data
    merged = json.loads((tmp_path / "two.private/manifest.json").read_text())
    single = json.loads(one.manifest.read_text())
    strip = lambda c: {k: v for k, v in c.items() if k not in ("output", "seconds")}  # noqa: E731
    assert [strip(c) for c in merged["cases"]] == [strip(c) for c in single["cases"]]
    assert merged["summary"] == single["summary"] and merged["failed"] == []
    assert merged["generator"]["sha256"] == single["generator"]["sha256"]
    assert (tmp_path / "two.private/cases.rank1.jsonl").is_file()  # rank 1 kept its own journal
    assert sorted(journaled(tmp_path / "two")) == sorted(set(journaled(tmp_path / "two")))


def test_two_rank_umed_fit_saves_the_single_process_format(two_cases, tmp_path):
    args = ("--method", "umed", "--iterations", "2")
    for name, nproc in (("one.pt", "1"), ("two.pt", "2")):
        done = medue("fit", str(two_cases), str(tmp_path / name), *args, "--nproc", nproc)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("saved umed generator") == 1  # rank 0 alone saves and reports
    one, two = load_perturber(tmp_path / "one.pt"), load_perturber(tmp_path / "two.pt")
    assert one.contour.state_dict().keys() == two.contour.state_dict().keys()
    assert one.config == two.config and np.array_equal(one.tile, two.tile)
    settings = ProtectSettings(method="umed")
    for case in discover_cases(two_cases):
        _, prepared = read_and_prepare(case, settings, one.class_values, ())
        with torch_threads(1):
            a, b = one.perturb(prepared), two.perturb(prepared)
        eps = prepared.budget.epsilon
        assert np.abs(b).max() <= eps + 1e-6  # the same budget holds
        # The stated tolerance (docs/METHODS.md). Measured over --seed 0-4 and three CPU paths
        # (default AVX-512; ATEN_CPU_CAPABILITY=default with ONEDNN_MAX_CPU_ISA=SSE41; AVX2): at
        # most 0.04 % of voxels differ; signs agree on 0.926-0.998 of the changed voxels (brain2
        # lowest, seed 0 here: 0.948). The gap is the ranks' other patches, not the CPU path,
        # which moved it by at most 0.01.
        assert np.mean(a != b) <= 0.05  # at most 5 % of voxels differ
        assert np.sign(a[a != 0]) @ np.sign(b[a != 0]) >= 0.9 * np.count_nonzero(a)


def rank_process(launcher: psutil.Process, rank: int) -> psutil.Process | None:
    for child in launcher.children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank):
                return child
        except psutil.Error:
            continue
    return None


def test_a_rank_killed_mid_apply_leaves_a_job_that_resumes_writing_every_file_once(
    sample_dataset, tmp_path
):
    data, out = copies(sample_dataset, tmp_path / "data", 6), tmp_path / "out"
    command = [sys.executable, "-m", "medue.cli", "protect", str(data), str(out), "--no-progress"]
    said = tmp_path / "stderr.txt"
    with said.open("w") as stderr:
        job = subprocess.Popen([*command, "--nproc", "2"], env=ENV, stdout=subprocess.DEVNULL,
                               stderr=stderr)  # fmt: skip
    record = private(out) / "cases.rank1.jsonl"
    deadline, killed = time.monotonic() + 600, False
    while time.monotonic() < deadline and job.poll() is None and not killed:
        if record.is_file() and len(record.read_text().splitlines()) >= 1:
            victim = rank_process(psutil.Process(job.pid), 1)
            if victim is not None:
                victim.send_signal(signal.SIGKILL)
                killed = True
        time.sleep(0.02)
    assert killed, "the job finished before rank 1 could be killed"
    assert job.wait(timeout=120) == 3  # torchrun stopped the other rank and failed the job
    assert "process 1 of 2 was stopped by SIGKILL" in said.read_text()
    assert "run the same command again to resume" in said.read_text()
    assert not (private(out) / "manifest.json").exists()
    landed = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in released(out)}
    assert landed
    resumed = subprocess.run([*command, "--nproc", "2"], env=ENV, capture_output=True, text=True,
                             timeout=900)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "protected 12 images" in resumed.stdout
    manifest = json.loads((private(out) / "manifest.json").read_text())
    assert len(manifest["cases"]) == 12 and not manifest["failed"]
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in released(out)}
    assert len(after) == 24  # 12 images + 12 labels
    assert {p: after[p] for p in landed} == landed  # in place when the ranks died: not rewritten
    assert not list(out.rglob(f"{TMP_PREFIX}*"))


def test_the_server_starts_its_worker_under_torchrun_when_medue_nproc_says_so(monkeypatch):
    from medue.server.supervisor import worker_command  # noqa: PLC0415

    monkeypatch.delenv("MEDUE_NPROC", raising=False)
    assert worker_command("py", "JOB") == ["py", "-m", "medue.server.worker", "JOB"]
    monkeypatch.setenv("MEDUE_NPROC", "4")
    assert worker_command("py", "JOB") == [
        "py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
        "-m", "medue.server.worker", "JOB",
    ]  # fmt: skip
