"""Presets defined by what a reader sees: the JND ceiling (medue.perception.ceiling) per image.

A preset promises a JND at the reading window (docs/METHODS.md, "Budget"); the job scales a
change that would be seen down until it is under the ceiling, and says so in the case's record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medue.budget import PRESETS, BudgetRequest, ImageFacts, resolve_budget
from medue.intensity import Window
from medue.io import StoredEncoding
from medue.perception import jnd_slice
from medue.perception.ceiling import fit_under_ceiling
from tests.layout import private
from tests.test_jnd import SOFT_TISSUE, checkerboard, ct_phantom

BRAIN = Window.from_level_width(40.0, 80.0, "CT brain")


def planned(image: np.ndarray, change: np.ndarray):
    """``render`` for whole-HU storage: the scaled change, rounded, each changed voxel >= 1 HU."""

    def render(scale: float) -> np.ndarray:
        scaled = np.sign(change) * np.maximum(np.abs(change * scale), 1.0) * (change != 0)
        return np.rint(image + scaled)

    return render


def test_a_visible_change_is_scaled_to_just_under_the_ceiling():
    image, body = ct_phantom(5.0)
    image = np.rint(image)
    change = 20.0 * checkerboard(image.shape, 2) * body
    before = jnd_slice(image, image + change, SOFT_TISSUE).worst
    fit = fit_under_ceiling(image, planned(image, change), SOFT_TISSUE, {"1x": 1.0})
    after = jnd_slice(image, fit.protected, SOFT_TISSUE).worst
    assert before > 1.5  # the companion: as planned, a reader sees it
    assert fit.met and fit.scale < 1 and 0.6 < after <= 1.0 and fit.seen["1x"] == after
    assert fit.note({"1x": 1.0}).startswith(f"scaled by {fit.scale:.2f} to stay under 1 JND at 1x")


def test_a_change_under_the_ceiling_is_written_as_planned():
    image, body = ct_phantom(10.0)
    image = np.rint(image)
    change = 2.0 * checkerboard(image.shape, 1) * body
    fit = fit_under_ceiling(image, planned(image, change), SOFT_TISSUE, {"1x": 1.0, "2x": 5.0})
    assert fit.met and fit.scale == 1.0 and fit.note({"1x": 1.0}) == ""
    assert np.array_equal(fit.protected, image + change)


def test_a_smallest_step_over_the_ceiling_is_reported_not_hidden():
    flat = np.full((96, 96), 40.0)
    change = 3.0 * checkerboard(flat.shape, 2)  # at W80, 1 HU is 3 grey levels: plain at 1x
    fit = fit_under_ceiling(flat, planned(flat, change), BRAIN, {"1x": 0.1})
    assert not fit.met and np.abs(fit.protected - flat).max() == 1.0  # one step, not zero
    assert "the smallest storable change is still" in fit.note({"1x": 0.1})
    with pytest.raises(ValueError):
        fit_under_ceiling(flat, planned(flat, change), BRAIN, {"one": 1.0})


def test_every_preset_has_a_jnd_ceiling_and_an_explicit_epsilon_has_none():
    ceilings = {name: dict(p.jnd_ceilings) for name, p in PRESETS.items()}
    assert ceilings["imperceptible"] == {"1x": 0.5, "2x": 0.5}
    assert ceilings["balanced"] == {"1x": 1.0} == ceilings["robust"]
    assert ceilings["strong"] == {"1x": 2.0}
    encoding = StoredEncoding(np.dtype("int16"), slope=1.0, intercept=0.0)
    facts = ImageFacts(noise_sigma=6.0, data_range=2000.0, region_fraction=0.01)
    budget = resolve_budget(BudgetRequest(), SOFT_TISSUE, encoding, facts)
    assert budget.ceilings() == {"1x": 1.0}
    explicit = resolve_budget(BudgetRequest(None, 9.0), SOFT_TISSUE, encoding, facts)
    assert explicit.ceilings() == {}


def protect(source: Path, output: Path, *options: str) -> dict:
    medue = [sys.executable, "-m", "medue.cli", "protect", str(source), str(output)]
    subprocess.run([*medue, "--no-progress", *options], check=True, capture_output=True)
    return json.loads((private(output) / "manifest.json").read_text())


def test_the_default_preset_holds_the_lung_tumour_under_1_jnd_and_shows_where(
    sample_dataset, tmp_path
):
    """lung2's pattern at 1.5 sigma is about 2 JND at 1x at the soft-tissue window; the default
    writes it under 1, scores every clinical CT window, and the report shows the worst patch."""
    source = tmp_path / "lung2"
    (source / "labels/final").mkdir(parents=True)
    shutil.copy(sample_dataset / "lung2.nii.gz", source)
    shutil.copy(sample_dataset / "labels/final/lung2.nii.gz", source / "labels/final")
    [case] = protect(source, tmp_path / "default")["cases"]
    jnd = case["metrics"]["jnd"]
    assert jnd["window"] == "CT soft_tissue" and 0.5 < jnd["1x"] < 1.0 < jnd["4x"]
    assert "to stay under 1 JND at 1x" in case["budget_rule"]
    windows = jnd["windows"]
    assert set(windows) == {"CT soft_tissue", "CT brain", "CT lung", "CT bone"}
    assert windows["CT brain"]["1x"] > 2 * windows["CT soft_tissue"]["1x"]  # W80 vs W400
    report = (private(tmp_path / "default") / "report.html").read_text()
    assert 'src="figures/lung2_zoom.png"' in report and "at CT brain:" in report
    crops = sitk.GetArrayFromImage(
        sitk.ReadImage(str(private(tmp_path / "default") / "figures/lung2_zoom.png"))
    )
    assert crops.shape == (128, 4 * 128 + 3 * 4)
    left, right = crops[:, 2 * 132 : 2 * 132 + 128], crops[:, 3 * 132 :]
    assert not np.array_equal(left, right)  # the 4x crops show the change
