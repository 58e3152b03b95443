"""Protect jobs over plain HTTP against a real ``medue serve`` on 127.0.0.1."""

from __future__ import annotations

import hashlib
import stat

import numpy as np
import pytest

from medue.datasets import discover_cases
from medue.io import read_volume
from tests.release_scan import leaks, owner_only_problems
from tests.server.running import Server, tree_hashes


def _originals_intact(studies, originals: dict) -> None:
    now = tree_hashes(studies)
    assert {name: now.get(name) for name in originals} == originals


def test_whole_dataset_job_writes_verified_copies(server: Server, studies, originals) -> None:
    answer = server.post("/protect/jobs", json={"preset": "strong"})
    assert answer.status_code == 201, answer.text
    job = answer.json()
    seen: list[dict] = []
    final = server.wait_for(job["id"], seen=seen)
    assert final["state"] == "done", final
    # progress: phases in order, done never above total, an ETA while applying
    phases = [s["phase"] for s in seen]
    assert "apply" in phases and phases[-1] == "done"
    assert all(s["done"] <= s["total"] for s in seen)
    applying = [s for s in seen if s["phase"] == "apply"]  # every case counted as it lands
    assert all(s["done"] >= sum(i["status"] == "done" for i in s["images"]) - 1 for s in applying)
    assert [i["status"] for i in final["images"]] == ["done"] * 5
    manifest = server.get(f"/protect/jobs/{job['id']}/report", params={"format": "json"}).json()
    for case in manifest["cases"]:
        source, copy = read_volume(case["source"]), read_volume(case["output"])
        assert copy.shape == source.shape and copy.geometry.matches(source.geometry)
        assert copy.encoding.stored_dtype == source.encoding.stored_dtype
        change = np.abs(copy.array.astype(float) - source.array.astype(float)).max()
        assert 0 < change <= case["epsilon_native"] + 1e-6
        assert case["metrics"]["psnr_db"] >= 45.0
    html = server.get(f"/protect/jobs/{job['id']}/report")
    assert html.status_code == 200 and "MedUE protection report" in html.text
    figure = manifest["cases"][0]["figure"].split("/")[-1]
    assert server.get(f"/protect/jobs/{job['id']}/figures/{figure}").content[:4] == b"\x89PNG"
    download = server.get("/protect/result", params={"image": "brain2"})
    written = server.export / final["export"] / "brain2.nii.gz"
    assert (
        hashlib.sha256(download.content).digest() == hashlib.sha256(written.read_bytes()).digest()
    )
    release = discover_cases(server.export / final["export"])  # a studies folder itself
    assert [(c.image_id, c.label is not None) for c in release] == [
        (i["id"], True) for i in final["images"]
    ]
    _originals_intact(studies, originals)


BAD_REQUESTS = [
    ({"method": "nope"}, 400, "unknown method"),
    ({"preset": "loud"}, 400, "unknown preset"),
    ({"epsilon": -3}, 400, "positive number"),
    ({"epsilon": "6"}, 400, "positive number"),
    ({"preset": "strong", "epsilon": 6}, 400, "not both"),
    ({"images": ["nobody"]}, 404, "unknown image id"),
    ({"images": ["../brain1"]}, 400, "plain name"),
    ({"images": ["a/b"]}, 400, "plain name"),
    ({"export": "../outside"}, 400, "plain name"),
    ({"export": "a\\b"}, 400, "plain name"),
    ({"roi": {"box": [0, 0, 0, 1, 1]}}, 400, "roi.box"),
    ({"seed": -1}, 400, "seed"),
    ({"colour": "red"}, 400, "unknown field"),
    ([1, 2], 400, "JSON object"),
    ({"store": True}, 400, "store is for studies in a PACS"),
    ({"store": "yes"}, 400, "store must be"),
    ({"check": {"epochs": 0}}, 400, "check.epochs"),
    ({"check": "yes"}, 400, "check must be"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_REQUESTS)
def test_bad_request_gets_one_clear_message(server: Server, body, status, words) -> None:
    answer = server.post("/protect/jobs", json=body)
    assert answer.status_code == status
    assert words in answer.json()["detail"]


def test_malformed_json_and_unknown_job(server: Server) -> None:
    json_type = {"content-type": "application/json"}
    infinite = server.post("/protect/jobs", data=b'{"epsilon": Infinity}', headers=json_type)
    assert infinite.status_code == 400 and "Infinity is not a JSON number" in infinite.text
    answer = server.post("/protect/jobs", data=b"{not json", headers=json_type)
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["detail"]
    assert server.get("/protect/jobs/0123456789ab").status_code == 404
    assert server.get("/protect/jobs/..%2Fetc").status_code in (400, 404)
    assert (
        server.get("/protect/result", params={"image": "brain2", "export": "../x"}).status_code
        == 400
    )
    unnamed = server.get("/protect/result")
    assert unnamed.status_code == 400 and "?image=ID" in unnamed.json()["detail"]


def test_second_job_is_refused_then_cancel_stops_the_first(server: Server) -> None:
    first = server.post("/protect/jobs", json={"export": "cancelled-run"}).json()
    second = server.post("/protect/jobs", json={"export": "other"})
    assert second.status_code == 409 and first["id"] in second.json()["detail"]
    assert server.delete(f"/protect/jobs/{first['id']}").status_code == 200
    final = server.wait_for(first["id"])
    assert final["state"] == "cancelled"
    leftovers = [p for p in (server.export / "cancelled-run").rglob(".medue-tmp*")]
    assert leftovers == []
    assert server.delete(f"/protect/jobs/{first['id']}").status_code == 409
    listed = server.get("/protect/jobs").json()["jobs"]
    assert first["id"] in [job["id"] for job in listed]


def test_preview_returns_the_protected_image_on_its_grid(server: Server, studies) -> None:
    answer = server.post(
        "/infer/protect_pattern-blocks", params={"image": "brain2", "output": "image"}
    )
    assert answer.status_code == 200, answer.text
    preview = server.export.parent / "preview.nii"
    preview.write_bytes(answer.content)
    image, source = read_volume(preview), read_volume(studies / "brain2.nii.gz")
    assert image.array.dtype == np.float32 and image.geometry.matches(source.geometry)
    change = np.abs(image.array - source.array)
    assert 0 < change.max() <= 16 + 1e-3  # within the balanced budget on this image (16 units)
    numbers = server.post(
        "/infer/protect_pattern-blocks",
        params={"image": "brain2", "output": "json"},
        data={"params": '{"perturbation": true, "epsilon": 5}'},
    ).json()
    assert numbers["budget"]["epsilon_native"] == 5 and numbers["metrics"]["max_abs_change"] <= 5


def test_preview_refusals_are_clear(server: Server) -> None:
    unknown = server.post(
        "/infer/protect_pattern-blocks", params={"image": "nobody", "output": "json"}
    )
    assert unknown.status_code == 404 and "no such image" in unknown.json()["detail"]
    unfitted = server.post("/infer/protect_emn", params={"image": "brain2", "output": "json"})
    assert unfitted.status_code == 400 and "needs a fitted method" in unfitted.json()["detail"]
    no_such = server.post("/infer/protect_nothing", params={"image": "brain2", "output": "json"})
    assert no_such.status_code == 404 and "protect_umed" in no_such.json()["detail"]
    garbled = server.post(
        "/infer/protect_pattern-blocks",
        params={"image": "brain2", "output": "json"},
        data={"params": '{"epsilon": 5'},
    )
    assert garbled.status_code == 400 and "params is not valid JSON" in garbled.json()["detail"]


def test_info_lists_a_preview_task_per_method(server: Server) -> None:
    models = server.get("/info/").json()["models"]
    methods = server.get("/protect/methods").json()
    assert {f"protect_{m}" for m in methods["methods"]} <= set(models)
    assert models["protect_umed"]["config"]["method"] == "umed"


def test_a_release_name_is_not_reused_with_other_settings(server: Server) -> None:
    first = server.post("/protect/jobs", json={"images": ["breast1"], "export": "one"}).json()
    assert server.wait_for(first["id"])["state"] == "done"
    other = server.post("/protect/jobs", json={"preset": "strong", "export": "one"})
    assert other.status_code == 409 and "other settings" in other.json()["detail"]
    same = server.post("/protect/jobs", json={"images": ["breast1"], "export": "one"})
    assert same.status_code == 201  # the same settings resume (and keep) the release
    assert server.wait_for(same.json()["id"])["state"] == "done"


def test_a_job_whose_every_image_fails_says_so_per_image(server: Server) -> None:
    job = server.post("/protect/jobs", json={"roi": {"labels": [7]}, "export": "label7",
                                             "images": ["brain2", "breast1"]}).json()  # fmt: skip
    final = server.wait_for(job["id"])
    assert final["state"] == "failed" and "no image was protected" in final["error"]
    assert [i["status"] for i in final["images"]] == ["failed", "failed"]
    assert all("7" in i["error"] for i in final["images"])


def test_a_default_job_exports_only_the_release(server: Server) -> None:
    """The export target gets the release alone; the private record stays in the job store,
    owner-only, and holds the key the release only commits to."""
    answer = server.post("/protect/jobs", json={"images": ["breast1", "brain2"],
                                                "export": "published"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert server.wait_for(answer.json()["id"])["state"] == "done"
    release = server.export / "published"
    secret = server.export / ".medue-jobs" / "private" / "published"
    assert sorted(p.name for p in release.iterdir()) == sorted(
        ["RELEASE.md", "release.json", "breast1.nii.gz", "brain2.nii.gz", "labels"]
    )
    assert (secret / "key").is_file() and (secret / "manifest.json").is_file()
    assert leaks(release, secret) == []
    assert owner_only_problems(secret) == []
    assert stat.S_IMODE((server.export / ".medue-jobs").stat().st_mode) == 0o700
