"""``/protect/verify`` on a real server (``tests/keyed_server.py``: a keyed release made by a
server job over part of a classification studies folder): suspects uploaded over HTTP
(white-box), probe files downloaded, answered and uploaded back (black-box). The probes are the
studies' images the job left out."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from tests.keyed_server import NAMES, Template, scripted, trained
from tests.verify.test_cli_verify import _answer


def test_an_uploaded_model_that_learned_the_key_is_detected_with_a_report(keyed_server):
    answer = keyed_server.post("/protect/verify", files={"model": ("trained.pt", scripted(
        trained(keyed_server)))}, data={"decoys": "99"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["detected"] and verdict["p_value"] == pytest.approx(0.01)
    assert verdict["probes"] == 16  # the normal images the job did not release
    assert verdict["suspect"] == "trained.pt" and verdict["release"] == "keyed"
    page = keyed_server.get(verdict["report"])
    assert page.status_code == 200 and "How the test works" in page.text
    figure = keyed_server.get(verdict["report"].replace("verify.html", "responses_pneumonia.png"))
    assert figure.status_code == 200 and figure.content[:4] == b"\x89PNG"
    assert (
        keyed_server.get(verdict["report_json"]).json()["suspect_sha256"]
        == verdict["suspect_sha256"]
    )
    blind = keyed_server.post("/protect/verify", files={"model": ("blind.pt", scripted(
        Template(np.zeros((28, 28)))))}, data={"decoys": "19"})  # fmt: skip
    assert blind.status_code == 200 and not blind.json()["detected"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not a model at all", "suspect.pt: is not a TorchScript model or a PyTorch state dict"),
        (
            lambda: scripted(Template(np.zeros((64, 64)))),
            "28, 28): RuntimeError: AssertionError: expects 28 x 28 images",  # the cause, last
        ),
    ],
)
def test_a_bad_model_upload_gets_one_line(keyed_server, content, expected):
    body = content() if callable(content) else content
    answer = keyed_server.post("/protect/verify", files={"model": ("suspect.pt", body)})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert expected in detail and "\n" not in detail and "Traceback" not in detail
    assert "medue-verify-" not in detail  # the server's scratch path means nothing to a client


def test_a_request_with_no_upload_or_a_bad_number_is_refused(keyed_server):
    assert "upload either model" in keyed_server.post("/protect/verify").json()["detail"]
    answer = keyed_server.post("/protect/verify/probes", data={"probes": "0"})
    assert answer.status_code == 400 and "probes must be at least 1" in answer.json()["detail"]
    answer = keyed_server.post("/protect/verify/probes", data={"decoys": "0"})
    assert answer.status_code == 400 and "at least 19" in answer.json()["detail"]
    answer = keyed_server.post("/protect/verify/probes", data={"decoys": "many"})
    assert answer.status_code == 400 and "decoys must be a whole number" in answer.json()["detail"]
    answer = keyed_server.post("/protect/verify/probes", data={"decoys": "5"})
    assert answer.status_code == 400 and "at least 19" in answer.json()["detail"]
    missing = keyed_server.get("/protect/verify/reports/keyed/nothing/verify.html")
    assert missing.status_code == 404


def test_black_box_probes_as_a_zip_then_answers_as_an_archive(keyed_server, tmp_path):
    answer = keyed_server.post("/protect/verify/probes", data={"decoys": "99", "probes": "4"})
    assert answer.status_code == 200, answer.text
    probes = tmp_path / "probes"
    zipfile.ZipFile(io.BytesIO(answer.content)).extractall(probes)
    listed = (probes / "probes.csv").read_text().splitlines()
    assert len(listed) == 1 + 4 * (1 + 100) and not list(probes.glob("*.json"))
    _answer(trained(keyed_server), probes, tmp_path / "answers.csv", NAMES)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(tmp_path / "answers.csv", "answers.csv")
    again = keyed_server.post("/protect/verify/probes", data={"decoys": "19"})  # a second batch
    assert again.status_code == 200, again.text
    upload = {"predictions": ("answers.zip", archive.getvalue())}
    scored = keyed_server.post("/protect/verify", files=upload)  # still scored as the first
    assert scored.status_code == 200, scored.text
    assert scored.json()["detected"] and scored.json()["p_value"] == pytest.approx(0.01)
    lines = (tmp_path / "answers.csv").read_text().splitlines()
    short = "\n".join(lines[:-2]) + "\nstray.nii.gz,0,1\n"
    refused = keyed_server.post("/protect/verify", files={"predictions": ("short.csv", short)})
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert detail.startswith("short.csv: does not match probe batch ") and "\n" not in detail
    assert "2 probe files missing" in detail and "1 other file (e.g. stray.nii.gz)" in detail


def _strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_the_classification_jobs_status_is_strict_json_with_its_unchanged_images(keyed_server):
    (job,) = _strict(keyed_server.get("/protect/jobs").text)["jobs"]
    metrics = job["metrics"]
    assert metrics["protected"] == 8 and metrics["unchanged"] == 4  # the reference class
    assert 35 < metrics["psnr_db_mean"] < 80 and metrics["psnr_db_min"] <= metrics["psnr_db_mean"]
    unchanged = [image for image in job["images"] if image["id"].startswith("normal")]
    assert unchanged and all(image["psnr_db"] is None for image in unchanged)
