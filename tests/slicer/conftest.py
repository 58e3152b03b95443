"""Fixtures for the Slicer extension's tests: its Lib importable as Slicer imports it, and two
real ``medue serve`` processes on 127.0.0.1, started together once per session (each takes
10-50 s to start here):

- ``medue_server``: auth off, studies brain2 + breast1 with their labels;
- ``secured_server``: auth on (a stand-in Keycloak realm, ``tests/slicer/realm.py``), studies
  breast1 + ``broken`` (a truncated copy of brain2 with brain2's label), for the login paths
  and a job the worker fails on.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.running import Server, stop_workers
from tests.slicer.realm import Realm

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "slicer_extension"
MODULE_DIR = EXTENSION / "MedUEProtect"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))  # as Slicer does for a scripted module's folder


def _studies(sample: Path, folder: Path, cases: dict[str, str]) -> Path:
    """A studies folder holding ``cases`` (id -> sample case it copies)."""
    (folder / "labels" / "final").mkdir(parents=True)
    for image_id, case in cases.items():
        shutil.copy(
            sample / f"labels/final/{case}.nii.gz", folder / f"labels/final/{image_id}.nii.gz"
        )
        data = (sample / f"{case}.nii.gz").read_bytes()
        (folder / f"{image_id}.nii.gz").write_bytes(data if image_id != "broken" else data[:40000])
    return folder


class Servers:
    def __init__(self, plain: Server, secured: Server, realm: Realm) -> None:
        self.plain, self.secured, self.realm = plain, secured, realm


@pytest.fixture(scope="session")
def slicer_servers(sample_dataset: Path, tmp_path_factory) -> Iterator[Servers]:
    base = tmp_path_factory.mktemp("slicer")
    realm = Realm()
    studies = _studies(sample_dataset, base / "studies", {"brain2": "brain2", "breast1": "breast1"})
    plain = Server(studies, base / "export", base / "server.log")
    auth = {"MONAI_LABEL_AUTH_ENABLE": "true", "MONAI_LABEL_AUTH_REALM_URI": realm.uri}
    guarded = _studies(sample_dataset, base / "secured", {"breast1": "breast1", "broken": "brain2"})
    secured = Server(guarded, base / "secured-export", base / "secured.log", auth)
    problems: list[BaseException] = []

    def start(server: Server) -> None:
        try:
            server.start()
        except BaseException as error:  # reported below, on the test's thread
            problems.append(error)

    threads = [threading.Thread(target=start, args=(s,)) for s in (plain, secured)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if problems:
            pytest.fail(f"a server did not start: {problems[0]}", pytrace=False)
        yield Servers(plain, secured, realm)
    finally:
        for server in (plain, secured):
            server.stop()
            stop_workers(server.export)
        realm.stop()


@pytest.fixture(scope="session")
def medue_server(slicer_servers: Servers) -> Server:
    return slicer_servers.plain


@pytest.fixture(scope="session")
def secured_server(slicer_servers: Servers) -> Server:
    return slicer_servers.secured


@pytest.fixture(scope="session")
def realm(slicer_servers: Servers) -> Realm:
    return slicer_servers.realm
