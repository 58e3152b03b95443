"""``/protect/verify`` on a real server: a keyed release made by a server job over a classification
studies folder, then suspects uploaded over HTTP (white-box) and probe files downloaded, answered
and uploaded back (black-box). The probes are the studies' images the job left out."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from medue.keys import read_key_file
from medue.methods.plaid import plaid
from tests.server.running import Server, stop_workers
from tests.test_cli_presence import uint8_dataset
from tests.verify.test_cli_verify import _answer, _Template

NAMES = ("normal", "pneumonia")
RELEASED = [f"{name}_{i}" for name in NAMES for i in range(4)]  # 16 normal images stay unreleased


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("verify_server")
    studies = uint8_dataset(base / "studies", NAMES, per_class=20)
    running = Server(studies, base / "export", base / "server.log").start()
    job = running.post("/protect/jobs", json={"method": "pattern-presence-keyed", "epsilon": 4,
                                              "images": RELEASED, "export": "keyed"})  # fmt: skip
    assert job.status_code == 201, job.text
    assert running.wait_for(job.json()["id"])["state"] == "done"
    yield running
    running.stop()
    stop_workers(running.export)


def _scripted(module: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


def _trained(server: Server) -> _Template:
    key = read_key_file(server.export / ".medue-jobs/private/keyed/key")
    return _Template(plaid(key, "presence/plaid/0", (28, 28)))


def test_an_uploaded_model_that_learned_the_key_is_detected_with_a_report(served):
    answer = served.post("/protect/verify", files={"model": ("trained.pt", _scripted(
        _trained(served)))}, data={"decoys": "99"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["detected"] and verdict["p_value"] == pytest.approx(0.01)
    assert verdict["probes"] == 16  # the normal images the job did not release
    assert verdict["suspect"] == "trained.pt" and verdict["release"] == "keyed"
    page = served.get(verdict["report"])
    assert page.status_code == 200 and "How the test works" in page.text
    figure = served.get(verdict["report"].replace("verify.html", "responses_pneumonia.png"))
    assert figure.status_code == 200 and figure.content[:4] == b"\x89PNG"
    assert served.get(verdict["report_json"]).json()["suspect_sha256"] == verdict["suspect_sha256"]
    blind = served.post("/protect/verify", files={"model": ("blind.pt", _scripted(
        _Template(np.zeros((28, 28)))))}, data={"decoys": "19"})  # fmt: skip
    assert blind.status_code == 200 and not blind.json()["detected"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not a model at all", "suspect.pt: is not a TorchScript model or a PyTorch state dict"),
        (lambda: _scripted(_Template(np.zeros((64, 64)))), "does not take images shaped"),
    ],
)
def test_a_bad_model_upload_gets_one_line(served, content, expected):
    body = content() if callable(content) else content
    answer = served.post("/protect/verify", files={"model": ("suspect.pt", body)})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert expected in detail and "\n" not in detail and "Traceback" not in detail
    assert "medue-verify-" not in detail  # the server's scratch path means nothing to a client


def test_a_request_with_no_upload_or_a_bad_number_is_refused(served):
    assert "upload either model" in served.post("/protect/verify").json()["detail"]
    answer = served.post("/protect/verify/probes", data={"decoys": "many"})
    assert answer.status_code == 400 and "decoys must be a whole number" in answer.json()["detail"]
    answer = served.post("/protect/verify/probes", data={"decoys": "5"})
    assert answer.status_code == 400 and "at least 19" in answer.json()["detail"]
    missing = served.get("/protect/verify/reports/keyed/nothing/verify.html")
    assert missing.status_code == 404


def test_black_box_probes_as_a_zip_then_answers_as_an_archive(served, tmp_path):
    answer = served.post("/protect/verify/probes", data={"decoys": "99"})
    assert answer.status_code == 200, answer.text
    probes = tmp_path / "probes"
    zipfile.ZipFile(io.BytesIO(answer.content)).extractall(probes)
    listed = (probes / "probes.csv").read_text().splitlines()
    assert len(listed) == 1 + 16 * (1 + 100) and not list(probes.glob("*.json"))
    _answer(_trained(served), probes, tmp_path / "answers.csv", NAMES)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(tmp_path / "answers.csv", "answers.csv")
    upload = {"predictions": ("answers.zip", archive.getvalue())}
    scored = served.post("/protect/verify", files=upload)
    assert scored.status_code == 200, scored.text
    assert scored.json()["detected"] and scored.json()["p_value"] == pytest.approx(0.01)
    lines = (tmp_path / "answers.csv").read_text().splitlines()
    short = "\n".join(lines[:-2]) + "\nstray.nii.gz,0,1\n"
    refused = served.post("/protect/verify", files={"predictions": ("short.csv", short)})
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert detail.startswith("short.csv: does not match the probes") and "\n" not in detail
    assert "2 probe files missing" in detail and "1 files that are not probes" in detail


def _strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_the_classification_jobs_status_is_strict_json_with_its_unchanged_images(served):
    (job,) = _strict(served.get("/protect/jobs").text)["jobs"]
    metrics = job["metrics"]
    assert metrics["protected"] == 8 and metrics["unchanged"] == 4  # the reference class
    assert 35 < metrics["psnr_db_mean"] < 80 and metrics["psnr_db_min"] <= metrics["psnr_db_mean"]
    unchanged = [image for image in job["images"] if image["id"].startswith("normal")]
    assert unchanged and all(image["psnr_db"] is None for image in unchanged)
