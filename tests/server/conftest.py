"""Fixtures: a copy of the sample studies and a real server over it (one per test module)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.running import Server, stop_workers, tree_hashes


@pytest.fixture(scope="module")
def studies(sample_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five sample cases as a MONAI Label studies folder (images + labels/final)."""
    folder = tmp_path_factory.mktemp("studies") / "studies"
    shutil.copytree(sample_data_dir / "pyradiomics", folder)
    return folder


@pytest.fixture(scope="module")
def originals(studies: Path) -> dict[str, str]:
    """sha256 of every original file, taken before any server touched the folder."""
    return tree_hashes(studies)


@pytest.fixture(scope="module")
def server(studies: Path, originals: dict, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:  # fmt: skip
    base = tmp_path_factory.mktemp("served")
    running = Server(studies, base / "export", base / "server.log").start()
    yield running
    running.stop()
    stop_workers(running.export)
