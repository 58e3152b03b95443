"""``/protect/verify`` for a segmentation release on a real server: a server job makes the
default release over 6 of 20 studies; 99 clean reference models go up as a zip
(``/protect/verify/references``); suspects are uploaded (white-box), or the probe files are
downloaded, answered with label maps and uploaded back (black-box). The probes are the studies'
images the job left out (``tests/segmentation_suspects.py``)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from medue.io import read_volume, write_volume
from medue.verify.suspect import load_suspect, scores
from tests.segmentation_suspects import (
    CheckerDetector,
    Threshold,
    bars_dataset,
    references,
    save_scripted,
    scripted,
)
from tests.server.running import Server, stop_workers

RELEASED = [f"c{i:02d}" for i in range(6)]


@pytest.fixture(scope="module")
def segmentation_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("segmentation_server")
    studies = bars_dataset(base / "studies", 20, seed=0)
    running = Server(studies, base / "export", base / "server.log").start()
    try:
        job = running.post("/protect/jobs", json={"images": RELEASED, "export": "vessels"})
        assert job.status_code == 201, job.text
        assert running.wait_for(job.json()["id"])["state"] == "done"
        yield running, base
    finally:
        running.stop()
        stop_workers(running.export)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_references_then_white_box_and_black_box(segmentation_server, tmp_path):
    server, base = segmentation_server
    trained = {"model": ("trained.pt", scripted(CheckerDetector()))}
    early = server.post("/protect/verify", files=trained)
    assert early.status_code == 400 and "has no reference models yet" in early.json()["detail"]
    models = {p.name: p.read_bytes() for p in references(tmp_path / "refs")}
    calibrated = server.post("/protect/verify/references",
                             files={"models": ("refs.zip", _zip(models))})  # fmt: skip
    assert calibrated.status_code == 200, calibrated.text
    assert calibrated.json()["references"] == 99
    assert calibrated.json()["probes"] == 14  # the studies the job left out
    verdict = server.post("/protect/verify", files=trained).json()
    assert verdict["detected"] and verdict["p_value"] == pytest.approx(0.01)
    assert verdict["ranked_against"] == "clean reference models"
    page = server.get(verdict["report"])
    assert page.status_code == 200 and "reference models" in page.text
    clean = server.post("/protect/verify", files={"model": ("clean.pt", scripted(Threshold(131)))})
    assert clean.status_code == 200 and not clean.json()["detected"]

    probes = server.post("/protect/verify/probes")
    assert probes.status_code == 200
    model = load_suspect(save_scripted(CheckerDetector(), tmp_path / "m.pt"))
    answers = {}
    with zipfile.ZipFile(io.BytesIO(probes.content)) as archive:
        names = [n for n in archive.namelist() if n.startswith("probe_")]
        assert len(names) == 28  # 14 probes, clean and marked
        for name in names:
            (tmp_path / name).write_bytes(archive.read(name))
            volume = read_volume(tmp_path / name)
            image = np.asarray(volume.array, np.float64).reshape(volume.array.shape[-2:])
            label = scores(model, image[None], name).argmax(axis=1)[0].astype(np.uint8)
            write_volume(
                volume.with_array(label.reshape(volume.array.shape)), tmp_path / "a.nii.gz"
            )
            answers[name] = (tmp_path / "a.nii.gz").read_bytes()
    scored = server.post("/protect/verify", files={"predictions": ("maps.zip", _zip(answers))})
    assert scored.status_code == 200, scored.text
    assert scored.json()["detected"] and scored.json()["suspect"] == "maps.zip"
    del answers[names[0]]
    short = server.post("/protect/verify", files={"predictions": ("maps.zip", _zip(answers))})
    assert short.status_code == 400 and "1 probe maps missing" in short.json()["detail"]
