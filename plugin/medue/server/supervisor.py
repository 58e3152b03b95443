"""Start job workers and keep them going: the server's only link to the background processes.

A worker is ``python -m medue.server.worker JOB_FOLDER`` in a session of its own, so it outlives a
server that is stopped or killed, and a restarted server finds it still holding the job's lock.
The supervisor takes that lock *before* starting the worker and hands the descriptor down, so a
job never gets two workers. Every few seconds (and at server start) it looks for jobs that are not
finished and have no live worker (queued, or their worker was killed) and starts one, which
resumes the job; a job whose worker died ``MAX_STARTS`` times is marked failed instead, pointing
at its log.

``MEDUE_NPROC`` = N > 1 starts each worker under torchrun (``python -m torch.distributed.run
--standalone --nproc-per-node N``), so a node serves a job with N processes (one per GPU, or
cores); the torchrun agent holds the inherited lock for its workers (``medue.distributed``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from medue.server.store import LOCK, TERMINAL, Job, JobStore, take_lock, write_json

log = logging.getLogger("medue.server")
MAX_STARTS = 4
WATCH_INTERVAL = 2.0  # seconds


class Supervisor:
    """Runs the store's unfinished jobs, one worker process each."""

    def __init__(self, store: JobStore, python: str = sys.executable) -> None:
        self.store = store
        self.python = python
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_watching(self) -> None:
        """Resume unfinished jobs now and keep watching them in a daemon thread."""
        self.resume_all()
        self._thread = threading.Thread(target=self._watch, name="medue-supervisor", daemon=True)
        self._thread.start()

    def stop_watching(self) -> None:
        self._stop.set()

    def resume_all(self) -> None:
        for job in self.store.active():
            if not job.worker_alive:
                self.start(job)

    def start(self, job: Job) -> bool:
        """Start ``job``'s worker unless one runs; False if one was already running."""
        with self._lock:
            fd = take_lock(job.folder / LOCK)
            if fd is None:
                return False
            try:
                if self._given_up(job):
                    return False
                self._spawn(job, fd)
            finally:
                os.close(fd)  # the worker holds its inherited copy (and the lock) from now on
        return True

    def cancel(self, job: Job) -> None:
        """Ask ``job`` to stop; a job with no worker is marked cancelled at once."""
        self.store.request_cancel(job)
        with self._lock:
            fd = take_lock(job.folder / LOCK)
            if fd is None:
                return  # its worker sees the cancel file between two cases
            try:
                current = self.store.get(job.id)
                if current is not None and current.status.get("state") not in TERMINAL:
                    write_json(job.folder / "status.json", {**current.status, "state": "cancelled"})
            finally:
                os.close(fd)

    def _spawn(self, job: Job, fd: int) -> None:
        starts = job.starts
        with (job.folder / "starts").open("a") as stream:
            stream.write(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
        if starts:
            log.warning("job %s: no live worker; starting one to resume it", job.id)
        with (job.folder / "worker.log").open("ab") as output:
            subprocess.Popen(
                worker_command(self.python, job.folder),
                pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                start_new_session=True, close_fds=True,
            )  # fmt: skip

    def _given_up(self, job: Job) -> bool:
        if job.starts < MAX_STARTS:
            return False
        write_json(job.folder / "status.json", {
            **job.status, "state": "failed",
            "error": f"its worker stopped {MAX_STARTS} times without finishing; see "
                     f"{job.folder / 'worker.log'}",
        })  # fmt: skip
        return True

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            try:
                self.resume_all()
            except Exception:  # keep watching whatever one look at the store hit
                log.exception("supervisor: looking at the job store failed")


def worker_command(python: str, folder) -> list[str]:
    """The worker's command line: under torchrun with ``MEDUE_NPROC`` processes when > 1."""
    nproc = int(os.environ.get("MEDUE_NPROC", "1") or 1)
    worker = ["-m", "medue.server.worker", str(folder)]
    if nproc <= 1:
        return [python, *worker]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return [python, *launcher, *worker]
