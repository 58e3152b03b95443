"""A real Orthanc PACS for the tests: started on 127.0.0.1 with a throw-away config and storage.

Orthanc and its DICOMweb plugin come from the Debian packages ``orthanc`` and
``orthanc-dicomweb`` (``scripts/services.sh`` installs them). Each test session starts its own
server on free ports with its storage in a temporary folder, never the system service.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
START_TIMEOUT = 30.0  # seconds until /system must answer


class OrthancMissing(RuntimeError):
    """Orthanc or its DICOMweb plugin is not installed."""


@dataclass(frozen=True)
class Orthanc:
    """A running Orthanc: its REST root and DICOMweb root (both http://127.0.0.1:PORT/...)."""

    rest_url: str
    dicomweb_url: str
    log: Path

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET on Orthanc's own REST API (``/series/{id}``, ``/instances/{id}/file``...)."""
        response = requests.get(f"{self.rest_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def post(self, path: str, data: bytes | str) -> requests.Response:
        response = requests.post(f"{self.rest_url}{path}", data=data, timeout=30)
        response.raise_for_status()
        return response


def orthanc_binary() -> str:
    """Path of the ``Orthanc`` executable (in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/bin")
    if not found or not DICOMWEB_PLUGIN.exists():
        missing = "Orthanc" if not found else f"its DICOMweb plugin ({DICOMWEB_PLUGIN})"
        raise OrthancMissing(
            f"{missing} is not installed; run scripts/services.sh (as root) to install the "
            "Debian packages orthanc and orthanc-dicomweb"
        )
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(folder: Path, http_port: int, dicom_port: int) -> Path:
    """A minimal Orthanc config: loopback only, no authentication, storage inside ``folder``."""
    config = {
        "Name": "MedUE-tests",
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "MEDUETEST",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "OverwriteInstances": False,
        "StorageCompression": False,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@contextmanager
def running_orthanc(folder: Path) -> Iterator[Orthanc]:
    """Start Orthanc with its config, storage and log in ``folder``; stop it on exit.

    Raises :class:`OrthancMissing` when it is not installed, RuntimeError (with the end of its
    log) when it does not answer within START_TIMEOUT seconds.
    """
    binary = orthanc_binary()
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = write_config(folder, http_port, dicom_port)
    log = folder / "orthanc.log"
    rest = f"http://127.0.0.1:{http_port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [binary, str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
    try:
        _wait_until_up(process, rest, log)
        yield Orthanc(rest, f"{rest}/dicom-web", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_up(process: subprocess.Popen, rest: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with code {process.returncode}:\n{_tail(log)}")
        try:
            if requests.get(f"{rest}/system", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Orthanc did not answer on {rest} in {START_TIMEOUT:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def instance_file(orthanc: Orthanc, instance: str) -> io.BytesIO:
    """One instance's stored file, as Orthanc's REST API returns it."""
    return io.BytesIO(orthanc.get(f"/instances/{instance}/file").content)


def instance_hashes(orthanc: Orthanc, instances: list[str]) -> dict[str, str]:
    """sha256 of each instance's stored file (Orthanc instance id -> hex)."""
    return {
        i: hashlib.sha256(orthanc.get(f"/instances/{i}/file").content).hexdigest()
        for i in instances
    }
