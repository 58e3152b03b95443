"""A job survives ``kill -9`` of its worker, and of the server with its worker: it resumes and
finishes with every image written exactly once (every file in place at the kill untouched)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.server.running import Server, worker_pids


@pytest.fixture(scope="module")
def studies(sample_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three of the sample cases, the largest last (a kill lands while it is being written)."""
    folder = tmp_path_factory.mktemp("studies") / "studies"
    (folder / "labels" / "final").mkdir(parents=True)
    for case in ("brain2", "breast1", "lung1"):
        shutil.copy(sample_data_dir / "pyradiomics" / f"{case}.nii.gz", folder)
        shutil.copy(sample_data_dir / "pyradiomics" / "labels" / "final" / f"{case}.nii.gz",
                    folder / "labels" / "final")  # fmt: skip
    return folder


def _start_and_wait_for_first_image(server: Server, export: str) -> str:
    job = server.post("/protect/jobs", json={"export": export}).json()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = server.get(f"/protect/jobs/{job['id']}").json()
        done = [i for i in status["images"] if i["status"] == "done"]
        if done:
            assert len(done) < len(status["images"]), "the job finished before it could be killed"
            return job["id"]
        time.sleep(0.1)
    raise TimeoutError("no image finished")


def _landed(release: Path) -> dict:
    """(inode, mtime) of every image and label file in the release: a file written again would
    change both (each write is a new file moved into place)."""
    files = [p for p in release.rglob("*.nii.gz") if ".medue-tmp" not in str(p)]
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


def _written_once(server: Server, job_id: str, before: dict, export: str) -> None:
    final = server.wait_for(job_id)
    assert final["state"] == "done", final
    assert [i["status"] for i in final["images"]] == ["done"] * 3
    release = server.export / export
    after = _landed(release)
    assert {p: after[p] for p in before} == before  # in place at the kill: never written again
    assert len(after) == 6  # three copies and their labels
    manifest = json.loads(
        (server.export / ".medue-jobs/private" / export / "manifest.json").read_text()
    )
    assert sorted(c["image_id"] for c in manifest["cases"]) == sorted(
        i["id"] for i in final["images"]
    )
    assert final["restarts"] == 1
    assert list(release.rglob(".medue-tmp*")) == []


def test_killed_worker_is_restarted_and_resumes(server: Server) -> None:
    job_id = _start_and_wait_for_first_image(server, "worker-killed")
    (pid,) = worker_pids(server.export)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)  # the signal is delivered asynchronously
    before = _landed(server.export / "worker-killed")
    assert before
    _written_once(server, job_id, before, "worker-killed")


def test_killed_server_and_worker_resume_on_restart(server: Server, tmp_path: Path) -> None:
    job_id = _start_and_wait_for_first_image(server, "server-killed")
    server.kill9()
    for pid in worker_pids(server.export):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert worker_pids(server.export) == []
    before = _landed(server.export / "server-killed")
    assert before
    restarted = Server(server.studies, server.export, tmp_path / "restarted.log").start()
    try:
        _written_once(restarted, job_id, before, "server-killed")
    finally:
        restarted.stop()
