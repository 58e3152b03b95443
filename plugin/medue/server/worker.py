"""The background process that runs one protect job: ``python -m medue.server.worker JOB_FOLDER``.

It drives the same engine function as ``medue protect`` (``medue.job.protect_dataset``) and writes
the job's ``status.json`` as it goes (phase, done/total, ETA; at most twice a second). A cancel is
the ``cancel`` file in the job's folder, checked by the engine between cases and fit steps.

Run again on a job whose earlier worker died (``kill -9``, power loss), it resumes as
``medue protect`` does: the method the earlier worker fitted and saved is applied again, and every
image the release records as finished, with its files unchanged, is kept as it is
(``medue.job.resume``). With the request's ``check``, a victim check of the written release
follows (``medue.job.check``), as ``medue protect --check`` does. The worker is started by
``medue.server.supervisor`` with the job's lock already taken for it (an inherited descriptor),
so two workers never run one job.

With ``MEDUE_NPROC`` = N > 1 the supervisor starts the worker under torchrun (N processes on this
node, ``medue.distributed``): rank 0 fetches the images first (the others then find them in the
cache), every rank protects its shard, and rank 0 alone writes the status, stores back and runs
the check.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from medue import distributed
from medue.errors import InputError
from medue.job import protect_dataset
from medue.job.check import check_written_release
from medue.methods.base import Cancelled, check_cancel
from medue.server.protect_request import ProtectRequest
from medue.server.sources import source_for
from medue.server.store import JobStore, read_json, write_json

log = logging.getLogger("medue.server.worker")
STATUS_INTERVAL = 0.5  # seconds between status writes of fit steps


class FileCancel:
    """A cancel token that is set once the job's ``cancel`` file exists."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def is_set(self) -> bool:
        return self.path.exists()


class StatusWriter:
    """The engine's progress callback, written to ``status.json`` with a per-phase ETA."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.phase, self.phase_started, self.last_write = "", 0.0, 0.0
        self.done = self.total = 0
        self.write({"state": "running", "phase": "prepare"})  # counts come with the first step

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase != self.phase:
            self.phase, self.phase_started = phase, now
        elif phase == "fit" and now - self.last_write < STATUS_INTERVAL and done < total:
            return  # fit steps come many a second; every case (prepare, apply) is written
        elapsed = now - self.phase_started
        self.done, self.total = done, total
        eta = elapsed / done * (total - done) if done and elapsed >= 1.0 else None  # else unknown
        self.write({"state": "running", "phase": phase, "done": done, "total": total,
                    "eta_seconds": round(eta, 1) if eta is not None else None})  # fmt: skip

    def write(self, status: dict) -> None:
        if not distributed.ranks().main:
            return  # rank 0 writes the job's status
        self.last_write = time.monotonic()
        status = {**status, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.path, status)


def run_job(folder: Path) -> str:
    """Run (or resume) the job in ``folder``; returns its final state."""
    job = JobStore(folder.parent).get(folder.name)
    if job is None:
        raise InputError(folder, "no job record (job.json) here")
    request = ProtectRequest.from_dict(job.record["request"])
    cancel = FileCancel(folder / "cancel")
    status = StatusWriter(folder / "status.json")
    source = source_for(job.record["studies"], Path(job.record["cache"]))
    settings = request.settings
    try:
        root, cases = _fetch(source, job.record["images"], settings.classification, status, cancel)
        check_cancel(cancel)
        outcome = protect_dataset(root, cases, job.output, settings, None, status, cancel,
                                  private=job.private)  # fmt: skip
        main = distributed.ranks().main
        stored = _store_back(source, outcome.results, status) if request.store and main else []
        if settings.check is not None and outcome.results and main:  # the release is complete
            check_written_release(root, job.output, settings.check, status, cancel,
                                  private=job.private)  # fmt: skip
    except Cancelled:
        counts = {"done": status.done, "total": status.total} if status.total else {}
        status.write({"state": "cancelled", "phase": status.phase or "prepare", **counts})
        return "cancelled"
    except InputError as error:
        status.write({"state": "failed", "phase": status.phase or "prepare", "error": str(error)})
        return "failed"
    except Exception as error:  # a bug: the job says so, the log has the traceback
        log.exception("job %s failed", folder.name)
        problem = f"internal error: {error}"
        status.write({"state": "failed", "phase": status.phase or "prepare", "error": problem})
        return "failed"
    manifest = read_json(outcome.manifest)
    failed = [{"image_id": _image_id(f.source, cases), "problem": f.problem}
              for f in outcome.failures]  # fmt: skip
    failed += [item for item in stored if "problem" in item]
    state = "done" if outcome.results or not failed else "failed"
    error = None if state == "done" else f"no image was protected; first: {failed[0]['problem']}"
    status.write({"state": state, "phase": "done", "done": len(cases), "total": len(cases),
                  "summary": manifest.get("summary"), "failed": failed, "error": error,
                  "stored": [item for item in stored if "series" in item]})  # fmt: skip
    return state


def _image_id(source: str, cases: list) -> str:
    """The image id a failure's file (the image, or its label map) belongs to."""
    path = Path(source).resolve()
    for case in cases:
        if path in (case.image.resolve(), case.label.resolve() if case.label else None):
            return case.image_id
    return Path(source).name


def _fetch(source, images, classification: bool, progress, cancel):
    """The job's images in the cache; rank 0 first, then the others (cache hits)."""
    main = distributed.ranks().main
    if main:
        fetched = source.fetch(images, classification, progress, cancel)
    distributed.barrier()
    return fetched if main else source.fetch(images, classification, progress, cancel)


def _store_back(source, results: list, progress) -> list[dict]:
    """STOW-RS each protected series back to the PACS; one entry per image (series or problem).

    A series the PACS already holds (stored by a worker killed just after) is reported as such.
    """
    stored = []
    for index, result in enumerate(results):
        try:
            series = source.store(Path(result.output))
            stored.append({"image_id": result.image_id, "series": series.series_instance_uid,
                           "instances": series.instances})  # fmt: skip
        except InputError as error:
            stored.append({"image_id": result.image_id, "problem": f"not stored: {error.problem}"})
        progress("store", index + 1, len(results))
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run one MedUE protect job (the server's worker)")
    parser.add_argument("job", type=Path, help="the job's folder in the server's job store")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    distributed.init_from_env()  # a process group only under torchrun (MEDUE_NPROC > 1)
    try:
        state = run_job(args.job.resolve())
    finally:
        distributed.shutdown()
    log.info("job %s: %s", args.job.name, state)
    return 0 if state != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
