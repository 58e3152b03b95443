"""Presets resolved per image from its own noise and the whole-image PSNR floor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medue.budget import PRESETS, BudgetRequest, ImageFacts, resolve_budget
from medue.errors import InputError
from medue.intensity import Window
from medue.io import StoredEncoding

WINDOW = Window(-160.0, 240.0, "soft_tissue")
INT16 = StoredEncoding(np.dtype("int16"))
FLOAT = StoredEncoding(np.dtype("float32"))


def facts(sigma=10.0, data_range=3000.0, fraction=0.01) -> ImageFacts:
    return ImageFacts(noise_sigma=sigma, data_range=data_range, region_fraction=fraction)


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_is_a_multiple_of_the_image_noise(preset):
    budget = resolve_budget(BudgetRequest(preset), WINDOW, FLOAT, facts())
    assert budget.epsilon_native == pytest.approx(PRESETS[preset].sigma_multiple * 10.0)
    assert budget.noise_sigma == 10.0
    assert "x noise SD 10" in budget.rule


def test_whole_image_psnr_caps_epsilon_when_the_region_is_large():
    """+-eps on half the voxels of a 1000-unit image: PSNR = 20 log10(1000 / (eps sqrt(0.5)))."""
    budget = resolve_budget(BudgetRequest("balanced"), WINDOW, FLOAT, facts(100.0, 1000.0, 0.5))
    psnr = 20 * math.log10(1000.0 / (budget.epsilon_native * math.sqrt(0.5)))
    assert psnr == pytest.approx(PRESETS["balanced"].min_psnr_db)
    assert "capped" in budget.rule and budget.epsilon_native < 1.5 * 100.0


def test_epsilon_is_snapped_down_to_whole_stored_steps_and_never_below_one():
    assert resolve_budget(BudgetRequest(), WINDOW, INT16, facts(5.0)).epsilon_native == 7.0
    tiny = resolve_budget(BudgetRequest("imperceptible"), WINDOW, INT16, facts(0.5))
    assert tiny.epsilon_native == 1.0 and "raised to one storable step" in tiny.rule


def test_an_image_without_measurable_noise_gets_one_grey_level_of_its_window():
    budget = resolve_budget(BudgetRequest("balanced"), WINDOW, FLOAT, facts(sigma=0.0))
    assert budget.epsilon_native == pytest.approx(1.5 * 400.0 / 255.0)
    assert "no noise measured" in budget.rule


def test_an_explicit_epsilon_is_kept_or_refused_below_one_step():
    kept = resolve_budget(BudgetRequest(epsilon=12.0), WINDOW, INT16, facts())
    assert kept.epsilon_native == 12.0 and kept.rule == "--epsilon as given"
    with pytest.raises(InputError, match="below the smallest change"):
        resolve_budget(BudgetRequest(epsilon=0.5), WINDOW, INT16, facts())
