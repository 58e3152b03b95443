"""A real ``medue serve`` process on 127.0.0.1 for the server tests, and plain-HTTP helpers.

The server is started the way hospital IT starts it (``medue serve --studies --export``, i.e.
MONAI Label's ``start_server`` with MedUE's app and job endpoints), on a free port, and talked to
with ``requests``. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.services.orthanc import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240.0  # seconds: MONAI Label imports torch and MONAI at start (slow on 2 cores)


class Server:
    """``medue serve`` as a subprocess; ``url`` is its base address."""

    def __init__(self, studies: Path, export: Path, log: Path, env: dict | None = None) -> None:
        self.studies, self.export, self.log = studies, export, log
        self.env = {**os.environ, "PYTHONPATH": f"{REPO / 'plugin'}{os.pathsep}{REPO}",
                    "OMP_NUM_THREADS": "1", **(env or {})}  # fmt: skip
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        command = [sys.executable, "-m", "medue.cli", "serve", "--studies", str(self.studies),
                   "--export", str(self.export), "--port", str(self.port)]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start; log:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/info/", timeout=5).status_code in (200, 401):
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server did not answer in {START_TIMEOUT} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=60, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=120, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return requests.delete(self.url + path, timeout=60, **kwargs)

    def wait_for(self, job_id: str, states=("done", "failed", "cancelled"), timeout=600.0,
                 seen: list | None = None) -> dict:  # fmt: skip
        """Poll the job until it reaches one of ``states``; every status seen goes to ``seen``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get(f"/protect/jobs/{job_id}").json()
            if seen is not None:
                seen.append(status)
            if status["state"] in states:
                return status
            time.sleep(0.3)
        raise TimeoutError(f"job {job_id} still {status['state']} after {timeout} s")


def stop_workers(export: Path) -> None:
    """Kill any job worker still running on ``export`` (a test's leftovers)."""
    for pid in worker_pids(export):
        os.kill(pid, signal.SIGKILL)


def worker_pids(export: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                command = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"medue.server.worker" in command and any(
                str(export).encode() in c for c in command
            ):
                found.append(int(proc.name))
    return found


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> hex)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }  # fmt: skip
