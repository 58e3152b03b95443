"""Shared fixtures: the real sample dataset, built once per test session by sample_data/build.py,
and a real Orthanc PACS started once per session when a test asks for it.

The builder is idempotent (a no-op when ``sample_data/build/.built`` is current), so only the
first session on a machine pays for the download and conversion (a few seconds).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from tests.services.orthanc import Orthanc, OrthancMissing, orthanc_binary, running_orthanc

REPO = Path(__file__).resolve().parent.parent
SAMPLE_OUT = REPO / "sample_data" / "build"


def load_script(relative: str) -> ModuleType:
    """Import a repository script (``sample_data/build.py``, ``benchmarks/*.py``) as a module,
    once per session: they are scripts, not part of the package."""
    name = "medue_script_" + relative.replace("/", "_").removesuffix(".py")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / relative)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with at most ``count`` torch threads (others share this 2-core CPU), then restore."""
    import torch  # noqa: PLC0415 - only the modules that train import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(min(count, previous))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def load_builder() -> ModuleType:
    """sample_data/build.py as a module."""
    return load_script("sample_data/build.py")


@pytest.fixture(scope="session")
def sample_data_dir() -> Path:
    """``sample_data/build``, built (or found up to date) by the sample-data builder; one test
    process at a time (pytest-xdist runs several, and they share the folder)."""
    digest = hashlib.sha256(str(SAMPLE_OUT).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"medue-sample-{digest}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if load_builder().main(["--out", str(SAMPLE_OUT)]) != 0:
            pytest.fail("sample_data/build.py failed (its message is in the captured stderr)")
    return SAMPLE_OUT


@pytest.fixture(scope="session")
def sample_dataset(sample_data_dir: Path) -> Path:
    """The five cases in MONAI Label's datastore layout (``<case>.nii.gz``, ``labels/final``)."""
    return sample_data_dir / "pyradiomics"


@pytest.fixture(scope="session")
def sample_dicom_series(sample_data_dir: Path) -> Path:
    """The lung1 CT as a folder of one DICOM file per axial slice."""
    return sample_data_dir / "dicom" / "lung1"


@pytest.fixture(scope="session")
def two_cases(sample_dataset: Path, tmp_path_factory) -> Path:
    """A two-case copy of the sample data (breast1, brain2): the smallest dataset a split takes."""
    folder = tmp_path_factory.mktemp("two")
    (folder / "labels/final").mkdir(parents=True)
    for case in ("breast1", "brain2"):
        shutil.copy(sample_dataset / f"{case}.nii.gz", folder)
        shutil.copy(sample_dataset / f"labels/final/{case}.nii.gz", folder / "labels/final")
    return folder


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Iterator[Orthanc]:
    """A real Orthanc with DICOMweb on 127.0.0.1 (free ports, empty temporary storage).

    Fails (never skips) when Orthanc is not installed: ``scripts/services.sh`` installs it.
    """
    try:
        orthanc_binary()
    except OrthancMissing as missing:
        problem = str(missing)
    else:
        with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
            yield server
        return
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory):
    """A real server with a keyed classification release (``tests/keyed_server.py``)."""
    from tests.keyed_server import start_keyed_server  # noqa: PLC0415 - imports torch
    from tests.server.running import stop_workers  # noqa: PLC0415

    running = start_keyed_server(tmp_path_factory.mktemp("keyed_server"))
    yield running
    running.stop()
    stop_workers(running.export)
