"""The fitting sample (``medue.job.sample``): bounded, drawn from the seed, every class in it; and
the streaming job writes the same files as fitting on every case and applying from memory."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medue.class_datasets import discover_classified
from medue.datasets import discover_cases, load_case
from medue.intensity import default_window
from medue.job import ProtectSettings, protect_dataset
from medue.job.apply import protect_case
from medue.job.run import prepare_dataset
from medue.job.sample import draw_sample
from medue.keys import read_key_file
from medue.methods import FitOptions, fit_method
from medue.prepare import prepare_case
from tests.conftest import torch_threads
from tests.methods.test_salm import write_dataset
from tests.test_cli_protect import medue

NAMES = ("a", "b", "c", "d", "e")


@pytest.fixture(scope="module")
def five_small(sample_dataset: Path, tmp_path_factory) -> Path:
    """breast1 (45 x 120 x 21 voxels) under five names, with its label."""
    folder = tmp_path_factory.mktemp("five")
    (folder / "labels/final").mkdir(parents=True)
    for name in NAMES:
        shutil.copy(sample_dataset / "breast1.nii.gz", folder / f"{name}.nii.gz")
        shutil.copy(sample_dataset / "labels/final/breast1.nii.gz",
                    folder / f"labels/final/{name}.nii.gz")  # fmt: skip
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_draw_is_bounded_deterministic_and_replaces_what_fails():
    voxels = [10] * 10
    first = draw_sample(voxels, 0, lambda i: i, limit=3)
    assert len(first) == 3 and first == sorted(first)
    assert draw_sample(voxels, 0, lambda i: i, limit=3) == first
    assert len({tuple(draw_sample(voxels, s, lambda i: i, limit=3)) for s in range(6)}) > 1
    assert len(draw_sample(voxels, 0, lambda i: i, budget=35)) == 3  # a 4th would pass 35
    assert len(draw_sample([50, 60], 0, lambda i: i, budget=35)) == 1  # at least one case
    assert len(draw_sample(voxels, 0, lambda i: i, limit=99)) == 10
    failing = {index for index, _ in first}
    redrawn = draw_sample(voxels, 0, lambda i: None if i in failing else i, limit=3)
    assert len(redrawn) == 3 and not failing & {index for index, _ in redrawn}


def test_a_classification_sample_holds_every_class(tmp_path):
    classes = ["x"] * 8 + ["y", "z"]
    drawn = draw_sample([1] * 10, 3, lambda i: i, limit=1, classes=classes)
    assert {classes[i] for i, _ in drawn} == {"x", "y", "z"}  # past the limit: one per class
    folder = write_dataset(tmp_path / "classes", per_class=4)  # 3 classes of 4 images
    settings = ProtectSettings(method="salm", fit_cases=2)
    data = prepare_dataset(discover_classified(folder), settings)
    assert len(data.sample) == 3 and len(data.cases) == 12
    assert sorted(case.extra["category"] for case in data.sample) == [0, 1, 2]


def test_fit_cases_bounds_the_fit_and_the_manifest_names_them(five_small: Path, tmp_path):
    settings = ProtectSettings(method="umed", iterations=1, fit_cases=2)
    cases = discover_cases(five_small)
    drawn = prepare_dataset(cases, settings).sample_ids
    assert len(drawn) == 2 and prepare_dataset(cases, settings).sample_ids == drawn
    other_seeds = {
        tuple(prepare_dataset(cases, replace(settings, seed=seed)).sample_ids)
        for seed in range(1, 6)
    }
    assert other_seeds - {tuple(drawn)}  # the seed draws it
    with torch_threads(1):
        outcome = protect_dataset(five_small, cases, tmp_path / "out", settings)
    manifest = json.loads(outcome.manifest.read_text())
    assert manifest["fit_cases"] == drawn == outcome.fit_cases
    assert manifest["settings"]["fit_cases"] == 2
    assert len(manifest["cases"]) == 5 and not manifest["failed"]  # every case protected


def test_streaming_job_writes_the_files_of_fitting_on_everything_in_memory(five_small, tmp_path):
    """EMN keeps one fitted delta per case: each case, prepared again when it is applied, must
    find its own delta, so the files are byte for byte those of the all-in-memory flow."""
    settings = ProtectSettings(method="emn", iterations=1)
    cases = discover_cases(five_small)[:3]
    with torch_threads(1):
        outcome = protect_dataset(five_small, cases, tmp_path / "out", settings)
        loaded = [load_case(case, require_label=True) for case in cases]
        values = tuple(sorted({int(v) for item in loaded for v in np.unique(item.label) if v}))
        prepared = [
            prepare_case(item, settings.roi, settings.budget,
                         default_window(item.image.array, item.image.modality, "soft_tissue"),
                         values)
            for item in loaded
        ]  # fmt: skip
        key = read_key_file(outcome.private / "key")  # the job's seeds come from its key
        options = FitOptions(mode="2d", iterations=1, seed=0, class_values=values, key=key)
        perturber = fit_method("emn", prepared, options)
        for item, case in zip(loaded, prepared, strict=True):
            target = tmp_path / "reference" / item.case.image.name
            protect_case(item, case, perturber, target, "unlearnable-example protection (emn)")
    assert outcome.fit_cases == [case.image_id for case in cases]  # the sample is everything
    assert len(outcome.results) == 3
    for result in outcome.results:
        written = Path(result.output)
        assert sha256(written) == sha256(tmp_path / "reference" / written.name)


def test_cli_fit_names_its_sample_and_refuses_zero(five_small: Path, tmp_path):
    fitted = medue("fit", five_small, tmp_path / "g.pt", "--method", "umed", "--iterations", "1",
                   "--fit-cases", "2")  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    assert "fitted on 2 of 5 cases" in fitted.stdout
    refused = medue("protect", five_small, tmp_path / "o", "--fit-cases", "0")
    assert refused.returncode == 2 and "--fit-cases must be at least 1" in refused.stderr
