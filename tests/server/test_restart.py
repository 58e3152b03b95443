"""A job survives ``kill -9`` of its worker, and of the server with its worker: it resumes and
finishes with every image written exactly once (the files finished before the kill untouched)."""

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


def _start_and_wait_for_first_image(server: Server, export: str) -> tuple[str, dict]:
    job = server.post("/protect/jobs", json={"export": export}).json()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = server.get(f"/protect/jobs/{job['id']}").json()
        done = [i for i in status["images"] if i["status"] == "done"]
        if done:
            assert len(done) < len(status["images"]), "the job finished before it could be killed"
            return job["id"], _file_ids(server.export / export, [i["id"] for i in done])
        time.sleep(0.1)
    raise TimeoutError("no image finished")


def _file_ids(release: Path, image_ids: list[str]) -> dict:
    """(inode, mtime) of each finished copy: a copy written again would change both."""
    files = {i: release / f"{i}.nii.gz" for i in image_ids}
    return {i: (p.stat().st_ino, p.stat().st_mtime_ns) for i, p in files.items()}


def _written_once(server: Server, job_id: str, before: dict, export: str) -> None:
    final = server.wait_for(job_id)
    assert final["state"] == "done", final
    assert [i["status"] for i in final["images"]] == ["done"] * 3
    release = server.export / export
    assert _file_ids(release, list(before)) == before  # finished before the kill: never rewritten
    lines = [json.loads(x) for x in (release / "medue" / "cases.jsonl").read_text().splitlines()]
    assert sorted(e["image_id"] for e in lines) == sorted(i["id"] for i in final["images"])
    assert final["restarts"] == 1
    assert list(release.rglob(".medue-tmp*")) == []


def test_killed_worker_is_restarted_and_resumes(server: Server) -> None:
    job_id, before = _start_and_wait_for_first_image(server, "worker-killed")
    (pid,) = worker_pids(server.export)
    os.kill(pid, signal.SIGKILL)
    _written_once(server, job_id, before, "worker-killed")


def test_killed_server_and_worker_resume_on_restart(server: Server, tmp_path: Path) -> None:
    job_id, before = _start_and_wait_for_first_image(server, "server-killed")
    server.kill9()
    for pid in worker_pids(server.export):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert worker_pids(server.export) == []
    restarted = Server(server.studies, server.export, tmp_path / "restarted.log").start()
    try:
        _written_once(restarted, job_id, before, "server-killed")
    finally:
        restarted.stop()
