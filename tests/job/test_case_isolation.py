"""One case's trouble stays that case's: errors recorded, the rest protected, records written.

Also: a copy that fails its check after writing is never released, and the output folder is never
deleted or swapped, whatever the input is (a dataset, one file, one DICOM series folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medue.budget import BudgetRequest
from medue.datasets import Case
from medue.errors import InputError
from medue.io import read_volume, write_volume
from medue.io.atomic import TMP_PREFIX
from medue.job import ProtectSettings, protect_dataset
from medue.job import apply as apply_module
from medue.job.outputs import check_output_folder
from tests.io.field_files import cube_label, phantom, protect_folder, write_nifti, write_nrrd
from tests.layout import private


def small_dataset(folder: Path, names=("a", "b", "c")) -> Path:
    (folder / "labels/final").mkdir(parents=True)
    for index, name in enumerate(names):
        write_nifti(folder / f"{name}.nii.gz", phantom(seed=index))
        write_nifti(folder / f"labels/final/{name}.nii.gz", cube_label(), "uint8")
    return folder


def test_unexpected_error_in_one_case_is_recorded_and_the_rest_protected(tmp_path, monkeypatch):
    folder = small_dataset(tmp_path / "in")
    real = apply_module.held_under_preset

    def fails_on_b(image, prepared, perturber):
        if prepared.image_id == "b":
            raise ZeroDivisionError("a bug nobody foresaw")
        return real(image, prepared, perturber)

    monkeypatch.setattr(apply_module, "held_under_preset", fails_on_b)
    outcome = protect_folder(folder, tmp_path / "out", epsilon=3.0)
    assert sorted(Path(r.output).name for r in outcome.results) == ["a.nii.gz", "c.nii.gz"]
    manifest = json.loads(outcome.manifest.read_text())
    [failed] = manifest["failed"]
    assert failed["source"].endswith("b.nii.gz")
    assert "unexpected error while writing it (ZeroDivisionError: a bug" in failed["problem"]
    assert not (tmp_path / "out/b.nii.gz").exists()
    assert outcome.report.is_file()


def test_copy_failing_its_check_after_writing_is_not_released(tmp_path, monkeypatch):
    folder = small_dataset(tmp_path / "in", names=("a",))
    monkeypatch.setattr(apply_module, "measure_change", lambda *_: {"max_abs_change": 99.0})
    outcome = protect_folder(folder, tmp_path / "out", epsilon=3.0)
    [failure] = outcome.failures
    assert "changes a voxel by 99, over the budget of 3; not released" in failure.problem
    assert not (tmp_path / "out/a.nii.gz").exists()
    assert not list((tmp_path / "out").glob(f"{TMP_PREFIX}*"))
    assert json.loads(outcome.manifest.read_text())["cases"] == []


def test_no_usable_case_still_writes_manifest_and_report(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.nii.gz").write_bytes(b"not an image at all")
    outcome = protect_folder(folder, tmp_path / "out", epsilon=3.0)
    manifest = json.loads(outcome.manifest.read_text())
    assert manifest["cases"] == [] and manifest["failed"][0]["source"].endswith("broken.nii.gz")
    assert outcome.report.is_file()


def test_single_file_input_goes_into_the_output_folder_and_keeps_its_contents(tmp_path):
    folder = small_dataset(tmp_path / "in", names=("a",))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user's file")
    case = Case("a", folder / "a.nii.gz", folder / "labels/final/a.nii.gz")
    settings = ProtectSettings(method="random", budget=BudgetRequest(preset=None, epsilon=3.0))
    outcome = protect_dataset(folder / "a.nii.gz", [case], out, settings)
    assert not outcome.failures
    assert (out / "a.nii.gz").is_file() and (out / "keep.txt").read_text() == "user's file"


@pytest.mark.parametrize("where", ["same", "inside", "parent_of_file"])
def test_output_that_would_touch_originals_is_refused(tmp_path, where):
    folder = small_dataset(tmp_path / "in", names=("a",))
    given = folder / "a.nii.gz" if where == "parent_of_file" else folder
    output = {"same": folder, "inside": folder / "out", "parent_of_file": folder}[where]
    with pytest.raises(InputError, match="outside the input folder"):
        check_output_folder(given, output)


def test_writing_never_replaces_a_folder_of_foreign_files(tmp_path):
    volume = read_volume(write_nifti(tmp_path / "a.nii.gz", phantom()))
    target = tmp_path / "out" / "a.nii.gz"
    target.mkdir(parents=True)
    (target / "precious.txt").write_text("keep")
    with pytest.raises(OSError):
        write_volume(volume, target)
    assert (target / "precious.txt").read_text() == "keep"


def test_rerun_removes_the_earlier_output_of_a_case_that_now_fails(tmp_path):
    folder = small_dataset(tmp_path / "in", names=("a", "b"))
    out = tmp_path / "out"
    assert not protect_folder(folder, out, epsilon=3.0).failures
    (folder / "labels/final/b.nii.gz").unlink()  # b has no ROI any more: it fails this time
    (out / "notes.txt").write_text("the user's")
    outcome = protect_folder(folder, out, epsilon=3.0)
    manifest = json.loads(outcome.manifest.read_text())
    assert [Path(c["output"]).name for c in manifest["cases"]] == ["a.nii.gz"]
    assert sorted(manifest["removed_stale"]) == [
        str(out / "b.nii.gz"),
        str(out / "labels/final/b.nii.gz"),  # its label's copy too: not part of this release
    ]
    assert not (out / "b.nii.gz").exists() and (out / "a.nii.gz").exists()
    assert (out / "notes.txt").is_file()


def test_output_holding_another_inputs_release_is_refused(tmp_path):
    first = small_dataset(tmp_path / "one", names=("a",))
    second = small_dataset(tmp_path / "two", names=("c",))
    protect_folder(first, tmp_path / "out", epsilon=3.0)
    with pytest.raises(InputError, match="holds the release of another input"):
        protect_folder(second, tmp_path / "out", epsilon=3.0)


def test_epsilon_below_the_stored_step_is_refused_for_that_image(tmp_path):
    folder = tmp_path / "in"
    (folder / "labels/final").mkdir(parents=True)
    write_nifti(folder / "ct.nii.gz", phantom(), slope=2.0, inter=-1024.0)
    write_nifti(folder / "labels/final/ct.nii.gz", cube_label(), "uint8")
    outcome = protect_folder(folder, tmp_path / "out", epsilon=1.0)
    [failure] = outcome.failures
    assert failure.source.endswith("ct.nii.gz")
    assert (
        "--epsilon 1 is below the smallest change this file can hold (2 native" in failure.problem
    )


def test_two_headers_sharing_one_data_file_are_refused(tmp_path):
    folder = tmp_path / "in"
    (folder / "labels/final").mkdir(parents=True)
    for name in ("a", "b"):
        write_nrrd(folder / f"{name}.nhdr", phantom(), data_file="shared.raw.gz")
        write_nrrd(folder / f"labels/final/{name}.nrrd", cube_label(), dtype="unsigned char")
    outcome = protect_folder(folder, tmp_path / "out", epsilon=3.0)
    assert sorted(Path(f.source).name for f in outcome.failures) == ["a.nhdr", "b.nhdr"]
    assert all("shares its data file shared.raw.gz with" in f.problem for f in outcome.failures)


def test_files_in_the_output_that_medue_did_not_write_are_never_replaced(tmp_path):
    folder = small_dataset(tmp_path / "in", names=("a", "b"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.nii.gz").write_text("the user's own file, same name")
    outcome = protect_folder(folder, out, epsilon=3.0)
    [failure] = outcome.failures
    assert (
        failure.source == str(out / "a.nii.gz") and "not a copy MedUE recorded" in failure.problem
    )
    assert (out / "a.nii.gz").read_text() == "the user's own file, same name"
    assert (out / "b.nii.gz").is_file()
    again = protect_folder(folder, out, epsilon=3.0)  # b, journaled, may be replaced
    assert [Path(r.output).name for r in again.results] == ["b.nii.gz"]


def test_a_link_inside_the_output_never_leads_writes_to_the_originals(tmp_path):
    folder = tmp_path / "in"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    write_nifti(folder / "imagesTr/c_0000.nii.gz", phantom())
    write_nifti(folder / "labelsTr/c.nii.gz", cube_label(), "uint8")
    before = (folder / "imagesTr/c_0000.nii.gz").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / "imagesTr").symlink_to(folder / "imagesTr")
    outcome = protect_folder(folder, out, epsilon=3.0)
    [failure] = outcome.failures
    assert "leads outside the output folder" in failure.problem
    assert (folder / "imagesTr/c_0000.nii.gz").read_bytes() == before


def test_interrupted_runs_outputs_are_known_from_the_journal(tmp_path):
    folder = small_dataset(tmp_path / "in", names=("a", "b"))
    out = tmp_path / "out"
    protect_folder(folder, out, epsilon=3.0)
    (private(out) / "manifest.json").unlink()  # as if the run had been killed before its manifest
    (folder / "labels/final/b.nii.gz").unlink()
    outcome = protect_folder(folder, out, epsilon=3.0)
    assert not (out / "b.nii.gz").exists()  # the stale copy of the now-failing case is gone
    assert str(out / "b.nii.gz") in json.loads(outcome.manifest.read_text())["removed_stale"]


def test_relative_paths_from_another_directory_are_the_same_input(tmp_path, monkeypatch):
    small_dataset(tmp_path / "A/data", names=("p",))
    small_dataset(tmp_path / "B/data", names=("q",))
    monkeypatch.chdir(tmp_path / "A")
    protect_folder(Path("data"), Path("../release"), epsilon=3.0)
    monkeypatch.chdir(tmp_path / "B")
    with pytest.raises(InputError, match="holds the release of another input"):
        protect_folder(Path("data"), Path("../release"), epsilon=3.0)
    assert (tmp_path / "release/p.nii.gz").is_file()
    monkeypatch.chdir(tmp_path)
    assert not protect_folder(Path("A/data"), Path("release"), epsilon=3.0).failures
