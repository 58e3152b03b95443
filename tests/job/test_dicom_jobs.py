"""DICOM through the whole protect job, as a user runs it: series given directly, datasets of
series with labels and RT objects beside them, padding left alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom

from medue.io import read_volume
from tests.io.dicom_builders import (
    RT_STRUCT_STORAGE,
    Study,
    ct_series,
    label_on_grid,
    non_image,
    ramp,
    rt_dose,
)
from tests.io.field_files import protect_folder
from tests.layout import private

MEDUE = str(Path(sys.executable).parent / "medue")
PADDING = -2000  # stored value of the voxels outside the scanned circle


def medue(*args) -> subprocess.CompletedProcess:
    command = [MEDUE, *map(str, args), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def stored_of(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: pydicom.dcmread(p).pixel_array for p in sorted(folder.iterdir())}


def test_series_folder_given_directly_is_protected_into_the_output(tmp_path):
    series = tmp_path / "ct_head"
    ct_series(series, ramp(low=900))
    out = tmp_path / "release"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    result = medue("protect", series, out, "--method", "random", "--epsilon", "8",
                   "--roi-box", "0,2,2,4,14,14")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert (out / "notes.txt").read_text() == "the user's own file"
    written, source = stored_of(out / "ct_head"), stored_of(series)
    assert written.keys() == source.keys()
    change = np.concatenate([written[n].astype(int) - source[n] for n in source]).ravel()
    assert 0 < np.abs(change).max() <= 8
    manifest = json.loads((private(out) / "manifest.json").read_text())
    assert manifest["cases"][0]["output"] == str(out / "ct_head")
    again = medue("protect", series, out, "--method", "random", "--epsilon", "8",
                  "--roi-box", "0,2,2,4,14,14")  # fmt: skip
    assert again.returncode == 0, again.stderr  # an earlier MedUE output may be replaced
    assert (out / "notes.txt").is_file()


def test_dataset_of_series_with_labels_and_rt_objects(tmp_path):
    data = tmp_path / "studies"
    study = Study()
    ct_series(data / "patient_a", ramp(low=900), study=study)
    rt_dose(data / "patient_a" / "rtdose.dcm", study)
    label = label_on_grid(data / "patient_a", data / "labels/final/patient_a.nii.gz")
    outcome = protect_folder(data, tmp_path / "out", epsilon=6.0)
    assert not outcome.failures, outcome.failures
    [case] = json.loads(outcome.manifest.read_text())["cases"]
    assert case["skipped_objects"] == ["rtdose.dcm: RT Dose Storage"]
    assert case["stored"] == "int16, native = 1 * stored -1024"
    written = tmp_path / "out/patient_a"
    assert not (written / "rtdose.dcm").exists()  # not an image: not carried into the release
    copied = tmp_path / "out/labels/final/patient_a.nii.gz"
    assert copied.read_bytes() == label.read_bytes()
    assert read_volume(written).geometry.matches(read_volume(data / "patient_a").geometry)


def test_padding_voxels_are_never_changed(tmp_path):
    stored = ramp(low=900)
    stored[:, :3, :] = PADDING
    series = tmp_path / "padded"

    def pad(ds, _k):
        ds.PixelPaddingValue = PADDING

    ct_series(series, stored, edit=pad)
    out = tmp_path / "out"
    result = medue("protect", series, out, "--method", "random-image", "--epsilon", "10",
                   "--roi-box", "0,0,0,4,16,16")  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name, pixels in stored_of(out / "padded").items():
        source = pydicom.dcmread(series / name).pixel_array
        padding = source == PADDING
        assert padding.any()
        np.testing.assert_array_equal(pixels[padding], PADDING)
        assert np.any(pixels[~padding] != source[~padding])


def test_nested_exports_are_found_and_rt_only_folders_named_as_left_out(tmp_path):
    data = tmp_path / "export"
    study = Study()
    ct_series(data / "Patient1/Study1/CT", ramp(low=900), study=study)
    (data / "Patient1/Study1/RTSTRUCT").mkdir()
    non_image(data / "Patient1/Study1/RTSTRUCT/rs.dcm", study, RT_STRUCT_STORAGE, "RTSTRUCT")
    out = tmp_path / "out"
    result = medue("protect", data, out, "--method", "random", "--epsilon", "8",
                   "--roi-box", "0,2,2,4,14,14")  # fmt: skip
    assert result.returncode == 0, result.stderr  # an RT-only folder is not a failure
    assert "Patient1/Study1/RTSTRUCT: holds no image to protect" in result.stderr
    manifest = json.loads((private(out) / "manifest.json").read_text())
    assert [c["image_id"] for c in manifest["cases"]] == ["Patient1_Study1_CT"]
    assert (out / "Patient1/Study1/CT").is_dir()
    [left] = manifest["left_out"]
    assert left["why"] == "holds no image to protect, only rs.dcm: RT Structure Set Storage"
    assert "Left out of the release" in (private(out) / "report.html").read_text()
