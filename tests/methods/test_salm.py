"""SALM on a real (small) classification dataset written to disk: exactly K voxels changed per image
in the written files, within budget, deterministic for a seed, and a saved perturber that
protects images it never saw."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medue.class_datasets import discover_classified
from medue.job import ProtectSettings, protect_dataset
from medue.job.run import prepare_dataset
from medue.methods import load_perturber
from medue.methods.salm import SALMConfig, fit_salm
from medue.saliency import top_k_count, top_k_mask
from tests.conftest import torch_threads

SMALL = {"saliency_epochs": 2, "iterations": 2, "surrogate_steps": 3, "delta_steps": 2}


def write_dataset(folder: Path, per_class: int = 6, seed: int = 0) -> Path:
    """Three classes of 32x32 int16 images: a bright disc on the left, middle or right."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    for k, name in enumerate(["left", "middle", "right"]):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.normal(300, 20, (32, 32))
            image[(yy - 16) ** 2 + (xx - (8 + 8 * k)) ** 2 < 20] += 200
            data = np.round(image).astype(np.int16)
            nib.save(nib.Nifti1Image(data, np.eye(4)), folder / name / f"s{seed}_{i:02d}.nii.gz")
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("classes"))


def prepared(folder: Path, method: str = "salm", top_k: float = 0.1, names=None):
    settings = ProtectSettings(method=method, top_k=top_k)
    return prepare_dataset(discover_classified(folder), settings, class_names=names)


def test_top_k_mask_holds_exactly_k_voxels_and_prefers_the_largest():
    values = np.zeros((4, 5))
    values[1, 2], values[3, 4] = 5.0, 2.0
    mask = top_k_mask(values, 0.1)  # 2 of 20 voxels
    assert mask.sum() == top_k_count(20, 0.1) == 2
    assert mask[1, 2] and mask[3, 4]
    assert top_k_mask(np.ones((10, 10)), 0.05).sum() == 5  # ties: still exactly K
    with pytest.raises(ValueError, match="top-K fraction"):
        top_k_mask(values, 0.0)


@pytest.mark.parametrize("method", ["salm", "salm-generator", "salm-adversarial", "salm-random"])
def test_written_release_changes_exactly_k_voxels_within_budget(dataset, tmp_path, method):
    settings = ProtectSettings(method=method, top_k=0.05, iterations=2)
    with torch_threads(1):
        outcome = protect_dataset(dataset, discover_classified(dataset), tmp_path / "out", settings)
    assert not outcome.failures and len(outcome.results) == 18
    manifest = json.loads(outcome.manifest.read_text())
    for entry in manifest["cases"]:
        before = nib.load(entry["source"]).get_fdata()
        after = nib.load(entry["output"]).get_fdata()
        assert np.count_nonzero(after != before) == top_k_count(before.size, 0.05) == 51
        assert np.abs(after - before).max() <= entry["epsilon_native"]
        assert entry["metrics"]["psnr_db"] >= 50.0  # the balanced preset's floor, on the file
    table = (tmp_path / "out" / "labels.csv").read_text().splitlines()
    assert table[0] == "image,label" and "middle/s0_03.nii.gz,middle" in table


def test_the_same_seed_gives_the_same_noise_and_another_seed_does_not(dataset):
    data = prepared(dataset)
    cases = data.sample
    config = SALMConfig(class_names=data.class_names, **SMALL)
    with torch_threads(1):
        first = fit_salm(cases, config)
        again = fit_salm(cases, config)
        other = fit_salm(cases, dataclasses.replace(config, seed=1))
    a, b, c = (p.perturb(cases[4]) for p in (first, again, other))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_saved_perturber_protects_new_images_of_the_same_classes(dataset, tmp_path):
    data = prepared(dataset)
    config = SALMConfig(class_names=data.class_names, **SMALL)
    with torch_threads(1):
        perturber = fit_salm(data.sample, config)
        saved = perturber.save(tmp_path / "salm.pt")
        loaded = load_perturber(saved)
        fresh = prepared(
            write_dataset(tmp_path / "new", per_class=2, seed=5), names=loaded.class_names
        )
        for case in fresh.sample:
            delta = loaded.perturb(case)
            assert np.count_nonzero(delta) == top_k_count(case.image.size, 0.1)
            assert np.abs(delta).max() == pytest.approx(case.budget.epsilon)
    assert loaded.class_names == ("left", "middle", "right")


def test_whole_image_baseline_changes_every_voxel(dataset):
    data = prepared(dataset, method="salm-emn-image")
    config = SALMConfig(method="salm-emn-image", class_names=data.class_names, **SMALL)
    cases = data.sample
    with torch_threads(1):
        delta = fit_salm(cases[:6] + cases[-6:], config).perturb(cases[0])
    assert np.count_nonzero(delta) == delta.size


def test_class_noise_starts_as_a_texture_of_its_own_per_class():
    from medue.methods.salm_noise import class_texture

    textures = [class_texture(k, (1, 8, 8)) for k in range(12)]
    assert all(set(t.unique().tolist()) == {-1.0, 1.0} for t in textures)
    flat = [tuple(t.flatten().tolist()) for t in textures]
    assert len(set(flat)) == 12  # twelve classes, twelve different textures


def test_volumes_get_a_3d_surrogate_and_exactly_k_changed_voxels(tmp_path):
    rng = np.random.default_rng(1)
    for k, name in enumerate(["low", "high"]):
        (tmp_path / name).mkdir()
        for i in range(3):
            volume = rng.normal(100, 10, (16, 16, 8))
            volume[4 + 6 * k : 8 + 6 * k, 4:12, 2:6] += 100
            nib.save(nib.Nifti1Image(np.round(volume).astype(np.int16), np.eye(4)),
                     tmp_path / name / f"v{i}.nii.gz")  # fmt: skip
    data = prepared(tmp_path, top_k=0.05)
    config = SALMConfig(class_names=data.class_names, top_k=0.05, **SMALL)
    with torch_threads(1):
        perturber = fit_salm(data.sample, config)
    assert perturber.spatial_dims == 3
    case = data.sample[0]
    delta = perturber.perturb(case)
    assert delta.shape == case.image.shape == (8, 16, 16)
    assert np.count_nonzero(delta) == top_k_count(case.image.size, 0.05)
