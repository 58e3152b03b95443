"""Protect jobs on disk: what was asked, how far the worker got, and whether to stop.

One folder per job under the store's root, and the private record of each release (its key,
manifest, report, journals and restoration data: ``medue.job.private``) under
``<root>/private/<release name>``, owner-only like the root itself::

    <root>/<job id>/job.json      the request, the dataset and the release folder (written once)
                    status.json   the worker's phase, done/total, ETA, outcome (worker writes it)
                    cancel        present once a cancel was asked for (server writes it)
                    worker.lock   held (flock) by the job's worker process while it lives
                    worker.log    the worker's own log

Every file is written atomically, each by one writer only, so a server or worker killed at any
moment leaves a readable store. A job's state is derived from these files, never kept in memory:
``done``, ``failed`` or ``cancelled`` once the worker says so; ``running`` while a worker holds the
lock; otherwise ``queued`` (not started yet, or its worker was lost: the supervisor starts one,
which resumes). Per-image progress is read from the release's own record of finished cases
(``medue.job.resume``), so it is what is on disk, not what a process believed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medue.io.atomic import atomic_path
from medue.job.outputs import rank_files
from medue.job.private import default_private, open_private
from medue.job.resume import CASES

TERMINAL = ("done", "failed", "cancelled")
PRIVATE_RECORDS = "private"
LOCK = "worker.lock"


@dataclass(frozen=True)
class Job:
    """A job as stored: its record (``job.json``) and the worker's latest status."""

    folder: Path
    record: dict
    status: dict

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def output(self) -> Path:
        return Path(self.record["output"])

    @property
    def private(self) -> Path:
        """The release's private folder (in the job store; ``OUT.private`` for older jobs)."""
        recorded = self.record.get("private")
        return Path(recorded) if recorded else default_private(self.output)

    @property
    def cancel_requested(self) -> bool:
        return (self.folder / "cancel").exists()

    @property
    def worker_alive(self) -> bool:
        """Whether a worker process holds this job's lock right now."""
        return lock_held(self.folder / LOCK)

    @property
    def starts(self) -> int:
        """How many worker processes the supervisor started for this job (one line each)."""
        path = self.folder / "starts"
        return len(path.read_text().splitlines()) if path.exists() else 0

    @property
    def state(self) -> str:
        if self.status.get("state") in TERMINAL:
            return self.status["state"]
        if self.worker_alive:
            return "running"
        return "queued"

    def view(self) -> dict:
        """What ``GET /protect/jobs/{id}`` answers: state, phase, progress, ETA, images.
        Strict JSON (RFC 8259): an unchanged image's infinite PSNR is given as null."""
        status, images = self.status, self.images()  # reads the release's record once
        return json_safe(
            {
                "id": self.id,
                "state": self.state,
                "cancel_requested": self.cancel_requested,
                "phase": status.get("phase", "starting" if self.worker_alive else "waiting"),
                "done": status.get("done", sum(image["status"] == "done" for image in images)),
                "total": status.get("total", len(images)),  # images until the worker counts steps
                "eta_seconds": status.get("eta_seconds"),
                "created": self.record["created"],
                "updated": status.get("updated"),
                "export": self.record["request"]["export"],
                "request": self.record["request"],
                "restarts": max(0, self.starts - 1),
                "error": status.get("error"),
                "stored": status.get("stored", []),
                "failed": status.get("failed", []),
                "metrics": status.get("summary") or _summary(images),
                "images": images,
            }
        )

    def images(self) -> list[dict]:
        """Per image: ``done`` (with its metrics), ``failed`` (with the problem) or ``pending``."""
        finished = finished_cases(self.private)
        failed: dict[str, str] = {}
        for failure in self.status.get("failed", []):
            earlier = failed.get(failure["image_id"])
            failed[failure["image_id"]] = "; ".join(filter(None, (earlier, failure["problem"])))
        rows = []
        for image_id in self.record["images"]:
            if image_id in finished:
                metrics = finished[image_id]["result"]["metrics"]
                row = {
                    "id": image_id,
                    "status": "done",
                    "psnr_db": metrics["psnr_db"],
                    "ssim": metrics["ssim"],
                    "max_abs_change": metrics["max_abs_change"],
                }
                if image_id in failed:  # written, but e.g. not stored back in the PACS
                    row["error"] = failed[image_id]
                rows.append(row)  # fmt: skip
            elif image_id in failed:
                rows.append({"id": image_id, "status": "failed", "error": failed[image_id]})
            else:
                rows.append({"id": image_id, "status": "pending"})
        return rows  # fmt: skip


class JobStore:
    """The jobs of one server, in ``root`` (created if needed)."""

    def __init__(self, root: Path) -> None:
        self.root = open_private(Path(root))  # owner-only: it holds the releases' private records

    def private_for(self, release: str) -> Path:
        """The private folder of the release named ``release`` (shared by the jobs writing it)."""
        return self.root / PRIVATE_RECORDS / release

    def create(
        self, request: dict, studies: str, output: Path, images: list[str], cache: Path
    ) -> Job:
        """A new queued job for ``images`` of ``studies``, its release going to ``output``
        (``cache``: where series fetched from a PACS are kept)."""
        job_id = uuid.uuid4().hex[:12]
        record = {
            "id": job_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "studies": studies,
            "output": str(output),
            "private": str(self.private_for(output.name)),
            "images": images,
            "cache": str(cache),
            "request": request,
        }
        folder = self.root / job_id
        folder.mkdir()
        write_json(folder / "job.json", record)
        return Job(folder, record, {})

    def get(self, job_id: str) -> Job | None:
        folder = self.root / job_id
        if not (folder / "job.json").is_file():
            return None
        return Job(folder, read_json(folder / "job.json"), read_json(folder / "status.json"))

    def jobs(self) -> list[Job]:
        """Every job, oldest first."""
        found = [self.get(p.name) for p in self.root.iterdir() if p.is_dir()]
        return sorted((j for j in found if j is not None), key=lambda j: j.record["created"])

    def active(self) -> list[Job]:
        """Jobs not finished yet (queued or running)."""
        return [job for job in self.jobs() if job.state not in TERMINAL]

    def request_cancel(self, job: Job) -> None:
        write_json(job.folder / "cancel", {"requested": time.strftime("%Y-%m-%dT%H:%M:%S")})


def finished_cases(private: Path) -> dict[str, dict]:
    """The release's finished cases of its latest job key (``cases.jsonl`` in its private
    folder, and each rank's ``cases.rankN.jsonl`` of a job run on several processes; the newest
    file last) whose copy is in place: a case is recorded just before its copy is moved there
    (write-ahead), and a worker killed in between leaves a record of a copy that never landed."""
    found = private.glob(rank_files(CASES))
    paths = sorted(found, key=lambda p: p.stat().st_mtime)
    entries = []
    for line in (line for path in paths for line in path.read_text().splitlines()):
        with contextlib.suppress(ValueError):
            entries.append(json.loads(line))
    entries = [e for e in entries if isinstance(e, dict) and "key" in e and "image_id" in e]
    if not entries:
        return {}
    key = entries[-1]["key"]
    return {
        e["image_id"]: e for e in entries if e["key"] == key and Path(str(e.get("output"))).exists()
    }


def lock_held(path: Path) -> bool:
    """Whether another process holds an flock on ``path``."""
    if not path.exists():
        return False
    with path.open("a") as stream:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
        return False


def take_lock(path: Path) -> int | None:
    """Open and flock ``path``; the descriptor (inheritable, for the worker), or None if held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.set_inheritable(fd, True)
    return fd


def write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str))


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _summary(images: list[dict]) -> dict:
    done = [i for i in images if i["status"] == "done"]
    if not done:
        return {"protected": 0}
    return {
        "protected": len(done),
        "psnr_db_min": min(i["psnr_db"] for i in done),
        "max_abs_change": max(i["max_abs_change"] for i in done),
    }


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
