"""The server over a real Orthanc (DICOMweb): list series, preview, protect, store back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medue.io import read_volume
from tests.server.running import Server
from tests.services.orthanc import Orthanc, instance_file, instance_hashes


@pytest.fixture(scope="module")
def lung1(orthanc: Orthanc, sample_dicom_series: Path, sample_data_dir: Path) -> dict:
    """lung1 uploaded to Orthanc: its UIDs, Orthanc ids, file hashes and the lesion's box."""
    for path in sorted(sample_dicom_series.iterdir()):
        orthanc.post("/instances", path.read_bytes())
    header = pydicom.dcmread(next(sample_dicom_series.iterdir()), stop_before_pixels=True)
    [found] = [r for r in orthanc.post("/tools/lookup", str(header.SeriesInstanceUID)).json()
               if r["Type"] == "Series"]  # fmt: skip
    series = orthanc.get(f"/series/{found['ID']}").json()
    label = read_volume(sample_data_dir / "dicom" / "lung1_label.nii.gz").array
    where = np.argwhere(label > 0)
    box = [*map(int, where.min(axis=0)), *map(int, where.max(axis=0) + 1)]
    instances = series["Instances"]
    return {"series": str(header.SeriesInstanceUID), "study": series["ParentStudy"],
            "instances": instances, "hashes": instance_hashes(orthanc, instances),
            "box": box}  # fmt: skip


@pytest.fixture(scope="module")
def pacs_server(orthanc: Orthanc, lung1: dict, tmp_path_factory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("pacs")
    running = Server(orthanc.dicomweb_url, base / "export", base / "server.log").start()
    yield running
    running.stop()


def test_series_are_listed_previewed_protected_and_stored_back(pacs_server, orthanc, lung1):
    server = pacs_server
    assert lung1["series"] in server.get("/protect/images").json()["images"]
    preview = server.post(
        "/infer/protect_pattern-blocks",
        params={"image": lung1["series"], "output": "json"},
        data={"params": f'{{"box": {lung1["box"]}}}'},
    )
    assert preview.status_code == 200, preview.text
    seen = preview.json()
    assert 0 < seen["metrics"]["max_abs_change"] <= seen["budget"]["epsilon_native"]

    without_box = server.post("/protect/jobs", json={"images": [lung1["series"]]})
    assert without_box.status_code == 400 and "box" in without_box.json()["detail"]
    job = server.post("/protect/jobs", json={
        "images": [lung1["series"]], "roi": {"box": lung1["box"]}, "store": True,
    })  # fmt: skip
    assert job.status_code == 201, job.text
    final = server.wait_for(job.json()["id"])
    assert final["state"] == "done", final
    [stored] = final["stored"]
    assert stored["image_id"] == lung1["series"] and stored["instances"] == 48
    [found] = [r for r in orthanc.post("/tools/lookup", stored["series"]).json()
               if r["Type"] == "Series"]  # fmt: skip
    new = orthanc.get(f"/series/{found['ID']}").json()
    assert new["ParentStudy"] == lung1["study"] and len(new["Instances"]) == 48
    first = pydicom.dcmread(instance_file(orthanc, new["Instances"][0]))
    assert "DERIVED" in first.ImageType and first.DerivationDescription.startswith("MedUE")
    assert first.SeriesInstanceUID != lung1["series"]
    copy = server.export / final["export"] / lung1["series"]
    assert len(list(copy.glob("*.dcm"))) == 48  # the release keeps the protected series too
    assert instance_hashes(orthanc, lung1["instances"]) == lung1["hashes"]  # originals untouched
    assert stored["series"] not in server.get("/protect/images").json()["images"]
    log = (server.export / ".medue-jobs" / final["id"] / "status.json").read_text()
    assert "MedUE^Sample" not in log and "MEDUE-LUNG1" not in log  # no patient data in records
