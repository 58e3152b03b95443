"""DICOMweb against a real Orthanc: list, retrieve, protect with the real CLI, store back.

The sample lung1 CT (48 slices) is uploaded through Orthanc's own REST API, so what is checked
does not depend on the module under test; Orthanc's ``/instances/{id}/file`` gives the stored
bytes of the originals, hashed before and after to show they were never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medue.errors import InputError
from medue.io.dicomweb import (
    PacsError,
    SeriesRef,
    _all_pages,
    find_series,
    list_series,
    retrieve_series,
    store_series,
)
from tests.conftest import REPO
from tests.services.orthanc import Orthanc, free_port, instance_file, instance_hashes

PATIENT_DATA = ("MedUE^Sample", "MEDUE-LUNG1")  # the sample's Patient Name and Patient ID


@pytest.fixture(scope="module")
def original(orthanc: Orthanc, sample_dicom_series: Path) -> dict:
    """The lung1 series uploaded to Orthanc: its UIDs, Orthanc ids and file hashes."""
    for path in sorted(sample_dicom_series.iterdir()):
        orthanc.post("/instances", path.read_bytes())
    header = pydicom.dcmread(next(sample_dicom_series.iterdir()), stop_before_pixels=True)
    series = _orthanc_series(orthanc, str(header.SeriesInstanceUID))
    return {
        "study": str(header.StudyInstanceUID),
        "series": str(header.SeriesInstanceUID),
        "orthanc_study": series["ParentStudy"],
        "hashes": instance_hashes(orthanc, series["Instances"]),
    }


def test_list_series_names_series_without_patient_data(orthanc, original):
    refs = list_series(orthanc.dicomweb_url)
    [ref] = [r for r in refs if r.series_instance_uid == original["series"]]
    assert ref == SeriesRef(
        study_instance_uid=original["study"],
        series_instance_uid=original["series"],
        modality="CT",
        series_description="pyradiomics 3.0.1 test case lung1 (CT)",
        instances=48,
    )
    assert not any(word in repr(refs) for word in PATIENT_DATA)
    assert original["series"] in {
        r.series_instance_uid for r in list_series(orthanc.dicomweb_url, "CT")
    }
    assert list_series(orthanc.dicomweb_url, modality="MR") == []
    assert find_series(orthanc.dicomweb_url, original["series"]) == ref


def test_retrieve_gives_the_stored_pixels_and_keeps_a_complete_copy(
    orthanc, original, sample_dicom_series, tmp_path
):
    ref = find_series(orthanc.dicomweb_url, original["series"])
    folder = retrieve_series(orthanc.dicomweb_url, ref, tmp_path / "lung1")
    assert folder == tmp_path / "lung1"
    sources = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in sample_dicom_series.iterdir()}
    written = sorted(folder.iterdir())
    assert len(written) == 48 and {p.stem for p in written} == set(sources)
    for path in written:
        np.testing.assert_array_equal(
            pydicom.dcmread(path).pixel_array, pydicom.dcmread(sources[path.stem]).pixel_array
        )
    assert [p.name for p in tmp_path.iterdir()] == ["lung1"]  # no staging folder left

    stamps = {p.name: p.stat().st_mtime_ns for p in written}
    retrieve_series(orthanc.dicomweb_url, ref, folder)  # complete copy: nothing fetched
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps

    written[0].unlink()  # incomplete copy of the same series: replaced by a complete one
    retrieve_series(orthanc.dicomweb_url, ref, folder)
    assert len(list(folder.iterdir())) == 48

    (folder / "notes.txt").write_text("someone else's file")
    with pytest.raises(InputError, match="notes.txt, not part of series"):
        retrieve_series(orthanc.dicomweb_url, ref, folder)
    assert (folder / "notes.txt").is_file()


def test_protected_copy_goes_back_as_a_new_derived_series_of_the_same_study(
    orthanc, original, sample_data_dir, tmp_path
):
    url = orthanc.dicomweb_url
    ref = find_series(url, original["series"])
    studies = tmp_path / "studies"  # a dataset folder: the series, its label in labels/final
    retrieve_series(url, ref, studies / "lung1")
    (studies / "labels/final").mkdir(parents=True)
    shutil.copy(sample_data_dir / "dicom/lung1_label.nii.gz", studies / "labels/final/lung1.nii.gz")
    out = tmp_path / "release"
    result = subprocess.run(
        [sys.executable, "-m", "medue.cli", "protect", str(studies), str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugin"), str(REPO)])},
    )
    assert result.returncode == 0, result.stderr

    stored = store_series(url, out / "lung1", batch_bytes=8 * 2**20)  # in 4 requests
    assert stored.study_instance_uid == original["study"]
    assert stored.series_instance_uid != original["series"]
    assert stored.instances == 48

    series = _orthanc_series(orthanc, stored.series_instance_uid)
    assert series["ParentStudy"] == original["orthanc_study"]  # same study, beside the original
    assert len(series["Instances"]) == 48
    originals = _orthanc_series(orthanc, original["series"])["Instances"]
    new_sops, old_sops = _sop_uids(orthanc, series["Instances"]), _sop_uids(orthanc, originals)
    assert len(new_sops) == 48 and not new_sops & old_sops
    first = pydicom.dcmread(instance_file(orthanc, series["Instances"][0]))
    assert "DERIVED" in first.ImageType
    assert first.DerivationDescription.startswith("MedUE")
    assert {s.series_instance_uid for s in list_series(url)} >= {
        original["series"],
        stored.series_instance_uid,
    }

    with pytest.raises(PacsError, match="already in the PACS"):  # never adds to a series
        store_series(url, out / "lung1")
    assert len(_orthanc_series(orthanc, stored.series_instance_uid)["Instances"]) == 48
    assert instance_hashes(orthanc, originals) == original["hashes"]  # originals untouched


def test_an_original_series_is_never_stored(orthanc, original, sample_dicom_series):
    with pytest.raises(PacsError, match="is not a derived image .*never originals") as refused:
        store_series(orthanc.dicomweb_url, sample_dicom_series)
    assert "\n" not in str(refused.value)
    instances = _orthanc_series(orthanc, original["series"])["Instances"]
    assert instance_hashes(orthanc, instances) == original["hashes"]  # the same 48 files, unchanged


def test_unknown_series_is_named(orthanc, original, tmp_path):
    unknown = "1.2.826.0.1.3680043.8.498.1"
    with pytest.raises(PacsError, match=f"no series {unknown} in this PACS"):
        find_series(orthanc.dicomweb_url, unknown)
    ref = SeriesRef(original["study"], unknown, "CT", "", None)
    with pytest.raises(PacsError, match=f"no series {unknown} in this PACS"):
        retrieve_series(orthanc.dicomweb_url, ref, tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_server_down_http_error_wrong_root_and_silence_are_one_line_each(orthanc, original):
    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(PacsError, match="cannot connect") as error:
        list_series(down)
    assert str(error.value).startswith(down) and "\n" not in str(error.value)

    with pytest.raises(PacsError, match="HTTP 404") as error:
        list_series(f"{orthanc.rest_url}/no-such-root")
    assert "\n" not in str(error.value)

    with pytest.raises(PacsError, match="not DICOM JSON: is this the server's DICOMweb root"):
        list_series(orthanc.rest_url)  # Orthanc's own REST API lists ids, and ignores offset

    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/dicom-web"
        with pytest.raises(PacsError, match="no answer within 0.5 s"):
            list_series(url, timeout=0.5)


def test_search_pages_follow_offset_and_stop_when_the_server_ignores_it():
    rows = [{"0020000E": {"vr": "UI", "Value": [str(n)]}} for n in range(5)]

    def paging(offset: int, **_query) -> list[dict]:
        return rows[offset : offset + 2]

    assert _all_pages("http://pacs", paging) == rows
    assert _all_pages("http://pacs", lambda offset, **_q: rows[:3]) == rows[:3]


def _orthanc_series(orthanc: Orthanc, series_uid: str) -> dict:
    [found] = [r for r in orthanc.post("/tools/lookup", series_uid).json() if r["Type"] == "Series"]
    return orthanc.get(f"/series/{found['ID']}").json()


def _sop_uids(orthanc: Orthanc, instances: list[str]) -> set[str]:
    return {
        orthanc.get(f"/instances/{i}/tags?simplify").json()["SOPInstanceUID"] for i in instances
    }
