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


UINT8 = StoredEncoding(np.dtype("uint8"))
GREY = Window(0.0, 255.0, "8-bit")


def test_mixed_steps_sit_at_the_psnr_floor_between_two_whole_steps():
    """DRIVE-like: vessels on 7.5 % of an 8-bit image, noise SD 2; the 50 dB floor allows an RMS
    change of 2.94 grey levels. Without mixing the budget rounds down to 2 (52.8 dB); mixed, the
    voxels take 2 or 3 in proportions whose mean square is the floor's."""
    image = facts(sigma=2.0, data_range=255.0, fraction=0.075)
    plain = resolve_budget(BudgetRequest("balanced"), GREY, UINT8, image)
    mixed = resolve_budget(BudgetRequest("balanced", mixed_steps=True), GREY, UINT8, image)
    assert plain.epsilon_native == 2.0 and plain.mixed_amplitudes() is None
    cap = 255.0 * 10 ** (-50 / 20) / math.sqrt(0.075)
    assert mixed.epsilon_native == 3.0 and mixed.rms_native == pytest.approx(cap)
    low, high, share = mixed.mixed_amplitudes()
    assert (low, high) == pytest.approx((GREY.native_to_delta(2.0), GREY.native_to_delta(3.0)))
    mean_square = share * 9.0 + (1 - share) * 4.0
    psnr = 10 * math.log10(255.0**2 / (mean_square * 0.075))
    assert psnr == pytest.approx(50.0, abs=1e-6) and 0 < share < 1


def test_mixed_steps_never_exceed_the_noise_ceiling_nor_apply_to_an_explicit_epsilon():
    """The upper step must stay within sigma_multiple x SD: 1.5 x 1.6 = 2.4 < 3, so no mix."""
    quiet = facts(sigma=1.6, data_range=255.0, fraction=0.075)
    budget = resolve_budget(BudgetRequest("balanced", mixed_steps=True), GREY, UINT8, quiet)
    assert budget.epsilon_native == 2.0 and budget.mixed_amplitudes() is None
    given = BudgetRequest(preset=None, epsilon=3.0, mixed_steps=True)
    assert resolve_budget(given, GREY, UINT8, facts()).mixed_amplitudes() is None


def test_an_8bit_file_takes_its_full_scale_as_psnr_peak():
    assert UINT8.psnr_peak == 255.0
    assert StoredEncoding(np.dtype("uint8"), slope=2.0).psnr_peak == 510.0
    assert INT16.psnr_peak is None and FLOAT.psnr_peak is None
