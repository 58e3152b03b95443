"""The protect job end to end on real cases: files, budget on disk, records, cancel, bad inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medue.budget import BudgetRequest
from medue.datasets import discover_cases
from medue.io import read_volume
from medue.io.atomic import TMP_PREFIX
from medue.job import ProtectSettings, protect_dataset
from medue.methods.base import Cancelled

FAST = ProtectSettings(iterations=2)


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_dataset(sample_dataset: Path, tmp_path_factory) -> Path:
    """breast1 in three stored dtypes (int16 as shipped, uint8, float32) plus brain2."""
    folder = tmp_path_factory.mktemp("small")
    labels = folder / "labels/final"
    labels.mkdir(parents=True)
    image = sitk.ReadImage(str(sample_dataset / "breast1.nii.gz"))
    label = sample_dataset / "labels/final/breast1.nii.gz"
    for name, pixel in (
        ("b_int16", None),
        ("b_uint8", sitk.sitkUInt8),
        ("b_float", sitk.sitkFloat32),
    ):
        converted = image if pixel is None else sitk.Cast(image, pixel)
        sitk.WriteImage(converted, str(folder / f"{name}.nii.gz"))
        shutil.copy(label, labels / f"{name}.nii.gz")
    shutil.copy(sample_dataset / "brain2.nii.gz", folder)
    shutil.copy(sample_dataset / "labels/final/brain2.nii.gz", labels)
    return folder


@pytest.fixture(scope="module")
def protected(small_dataset: Path, tmp_path_factory):
    before = tree_hashes(small_dataset)
    output = tmp_path_factory.mktemp("out") / "release"
    outcome = protect_dataset(small_dataset, discover_cases(small_dataset), output, FAST)
    return before, outcome


def test_outputs_mirror_inputs_with_same_geometry_and_dtype(small_dataset, protected):
    _, outcome = protected
    assert not outcome.failures
    for case in discover_cases(small_dataset):
        original = read_volume(case.image)
        written = read_volume(outcome.output / case.image.name)
        assert written.array.dtype == original.array.dtype, case.image_id
        assert written.geometry.matches(original.geometry, tolerance=1e-6)
        label_copy = outcome.output / "labels/final" / case.label.name
        assert label_copy.read_bytes() == case.label.read_bytes()


def test_budget_holds_on_written_files_and_only_the_roi_changes(small_dataset, protected):
    _, outcome = protected
    for result in outcome.results:
        original = read_volume(result.source).array.astype(np.float64)
        written = read_volume(result.output).array.astype(np.float64)
        change = np.abs(written - original)
        assert change.max() <= result.epsilon_native
        assert change.max() > 0, f"{result.image_id}: perturbation rounded away"
        case = next(c for c in discover_cases(small_dataset) if c.image_id == result.image_id)
        label = read_volume(case.label).array > 0
        near_roi = sitk.GetArrayFromImage(
            sitk.BinaryDilate(sitk.GetImageFromArray(label.astype(np.uint8)), [4, 4, 0])
        ).astype(bool)
        assert not change[~near_roi].any(), "changes outside the ROI and its band"


def test_originals_untouched_and_manifest_complete(small_dataset, protected):
    before, outcome = protected
    assert tree_hashes(small_dataset) == before
    manifest = json.loads(outcome.manifest.read_text())
    assert manifest["settings"]["method"] == "pattern-checker"  # the default
    key = (outcome.private / "key").read_text().strip()  # hex: in the key file and the perturber
    assert key not in outcome.manifest.read_text()  # not in the record the server serves
    assert json.loads((outcome.private / "generator.json").read_text())["key"] == key
    assert len(manifest["cases"]) == 4 and not manifest["failed"]
    for entry in manifest["cases"]:
        assert entry["input_sha256"] != entry["output_sha256"]
        assert entry["metrics"]["psnr_db"] > 40
        assert (outcome.manifest.parent / entry["figure"]).is_file()
    assert "b_uint8" in outcome.report.read_text()
    assert not list(outcome.output.rglob(f"{TMP_PREFIX}*"))


def test_same_key_same_files(small_dataset, protected, tmp_path):
    _, first = protected
    again = protect_dataset(small_dataset, discover_cases(small_dataset), tmp_path / "r", FAST,
                            key_file=first.private / "key")  # fmt: skip
    for a, b in zip(first.results, again.results, strict=True):
        assert Path(a.output).read_bytes() == Path(b.output).read_bytes()


def test_explicit_epsilon_in_native_units(small_dataset, tmp_path):
    cases = [c for c in discover_cases(small_dataset) if c.image_id == "b_int16"]
    settings = ProtectSettings(method="checkerboard", budget=BudgetRequest(preset=None, epsilon=3))
    outcome = protect_dataset(small_dataset, cases, tmp_path / "r", settings)
    [result] = outcome.results
    assert result.epsilon_native == 3 and result.metrics["max_abs_change"] == 3


class CancelAfter:
    """Set after ``n`` apply steps: the job must stop between two cases."""

    def __init__(self, n: int) -> None:
        self.event = threading.Event()
        self.n = n

    def progress(self, phase: str, done: int, total: int) -> None:
        if phase == "apply" and done >= self.n:
            self.event.set()


def test_cancelled_job_leaves_no_partial_file(small_dataset, tmp_path):
    cancel = CancelAfter(1)
    output = tmp_path / "r"
    with pytest.raises(Cancelled):
        protect_dataset(
            small_dataset, discover_cases(small_dataset), output, FAST, None,
            cancel.progress, cancel.event,
        )  # fmt: skip
    written = [p for p in output.glob("*.nii.gz")]
    assert len(written) == 1
    assert not list(output.rglob(f"{TMP_PREFIX}*"))
    read_volume(written[0])  # complete and readable


def test_bad_cases_are_listed_and_the_rest_protected(small_dataset, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(small_dataset, folder)
    (folder / "broken.nii.gz").write_text("not an image")
    label = sitk.ReadImage(str(folder / "labels/final/brain2.nii.gz"))
    shutil.copy(folder / "brain2.nii.gz", folder / "nolesion.nii.gz")
    sitk.WriteImage(label * 0, str(folder / "labels/final/nolesion.nii.gz"))
    outcome = protect_dataset(folder, discover_cases(folder), tmp_path / "r", FAST)
    assert {r.image_id for r in outcome.results} == {"b_float", "b_int16", "b_uint8", "brain2"}
    problems = {Path(f.source).name: f.problem for f in outcome.failures}
    assert "cannot be read" in problems["broken.nii.gz"]
    assert "empty" in problems["nolesion.nii.gz"]


def test_output_inside_input_is_refused(small_dataset):
    from medue.errors import InputError

    with pytest.raises(InputError, match="outside the input"):
        protect_dataset(small_dataset, [], small_dataset / "release", FAST)


def test_manifest_paths_are_absolute_whatever_the_working_folder(two_cases, tmp_path, monkeypatch):
    monkeypatch.chdir(two_cases.parent)
    relative = Path(two_cases.name)
    outcome = protect_dataset(relative, discover_cases(relative), tmp_path / "out",
                              ProtectSettings())  # fmt: skip
    manifest = json.loads(outcome.manifest.read_text())
    paths = [case[key] for case in manifest["cases"] for key in ("source", "output")]
    assert len(paths) == 4 and all(Path(path).is_absolute() for path in paths)


def test_the_default_method_and_band_follow_the_method():
    """Patterns default to the ROI alone (band 0) and mix steps to sit at the PSNR floor; UMed
    keeps its 3-voxel contour band; an explicit band or epsilon is kept as given."""
    from medue.budget import BudgetRequest
    from medue.job.settings import ProtectSettings
    from medue.methods import DEFAULT_METHOD
    from medue.prepare import RoiSpec

    default = ProtectSettings()
    assert DEFAULT_METHOD == "pattern-checker" and default.roi.band_radius == 0
    assert default.budget.mixed_steps
    umed = ProtectSettings(method="umed")
    assert umed.roi.band_radius == 3 and not umed.budget.mixed_steps
    given = ProtectSettings(roi=RoiSpec(band_radius=2), budget=BudgetRequest(None, 4.0))
    assert given.roi.band_radius == 2 and given.budget.epsilon == 4.0


def test_the_default_release_of_an_8bit_image_sits_at_50_db_peak_255(tmp_path):
    """A fundus-like 8-bit image with thin 'vessels' on ~8 % of it: the default (one-voxel
    checkerboard, mixed steps) writes a file whose whole-image PSNR with the 8-bit peak is the
    preset's 50 dB floor, changing the vessels by 2 or 3 grey levels, nothing else."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(120, 2.0, (1, 200, 200)), 0, 255).astype(np.uint8)
    label = np.zeros(image.shape, np.uint8)
    label[:, ::12, :] = 1  # horizontal lines one voxel thick every 12 rows (8.5 %)
    image[label > 0] -= 12
    (tmp_path / "in/labels/final").mkdir(parents=True)
    sitk.WriteImage(sitk.GetImageFromArray(image[0]), str(tmp_path / "in/eye.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(label[0]), str(tmp_path / "in/labels/final/eye.nii.gz"))
    outcome = protect_dataset(tmp_path / "in", discover_cases(tmp_path / "in"), tmp_path / "out",
                              ProtectSettings())  # fmt: skip
    metrics = outcome.results[0].metrics
    assert 49.9 <= metrics["psnr_peak_db"] <= 50.3
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out/eye.nii.gz")))
    change = np.abs(written.astype(int) - image[0])
    assert set(np.unique(change[label[0] > 0])) == {2, 3} and not change[label[0] == 0].any()
    seen = metrics["jnd"]  # what a reader sees (medue.perception): worse the more it is zoomed
    assert seen["window"] == outcome.results[0].window["name"]
    assert 0 < seen["1x"] < seen["2x"] < seen["4x"]
    assert "JND" in (tmp_path / "out.private/report.html").read_text()
