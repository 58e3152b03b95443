"""Fixed class patterns: within budget and region, the same in every image, locked to the class,
saved as JSON that loads back to the same release."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from medue.budget import BudgetRequest
from medue.datasets import discover_cases, load_case
from medue.methods import FitOptions, fit_method, load_perturber
from medue.methods.patterns import PATTERN_METHODS, Component, checkerboard, texture
from medue.prepare import PreparedCase, RoiSpec, prepare_case


@pytest.fixture(scope="module")
def cases(sample_dataset: Path) -> dict[str, PreparedCase]:
    found = {c.image_id: c for c in discover_cases(sample_dataset)}
    return {
        name: prepare_case(load_case(found[name]), RoiSpec(), BudgetRequest())
        for name in ("brain1", "brain2")
    }


@pytest.mark.parametrize("method", PATTERN_METHODS)
def test_patterns_stay_within_budget_and_the_roi_region(cases, method):
    case = cases["brain1"]
    delta = fit_method(method, [case], FitOptions(seed=3)).perturb(case)
    assert np.abs(delta).max() <= case.budget.epsilon + 1e-7
    assert np.abs(delta).max() > 0.5 * case.budget.epsilon  # the budget is spent, not wasted
    assert not delta[~case.allowed].any()


@pytest.mark.parametrize("method", ["pattern-checker", "pattern-texture", "pattern-multiband"])
def test_a_class_gets_the_same_pattern_whatever_the_image(cases, method):
    """Fixed: a voxel of class k carries the same value (in units of epsilon) whatever the image
    holds and whatever its budget; that is the shortcut the victim learns for the class."""
    first = cases["brain1"]
    rng = np.random.default_rng(0)
    budget = dataclasses.replace(first.budget, epsilon_native=3 * first.budget.epsilon_native)
    second = dataclasses.replace(first, image=rng.permutation(first.image.ravel()).reshape(
        first.image.shape), budget=budget)  # fmt: skip
    perturber = fit_method(method, [first, cases["brain2"]], FitOptions(seed=1))
    a = perturber.perturb(first) / first.budget.epsilon
    b = perturber.perturb(second) / second.budget.epsilon
    np.testing.assert_allclose(a, b, atol=1e-5)
    other_key = fit_method(method, [first], FitOptions(seed=2)).perturb(first)
    if method == "pattern-texture":  # the key draws the texture; checkerboards have no key
        assert not np.allclose(other_key / first.budget.epsilon, a)


def test_classes_get_different_patterns_and_the_band_shares_class_one_by_default(cases):
    case = cases["brain1"]
    band = case.allowed & (case.classes == 0)
    as_class = {
        k: fit_method("pattern-checker", [case], FitOptions()).perturb(
            dataclasses.replace(case, classes=np.full_like(case.classes, k))
        )[band]
        for k in (1, 2)
    }
    assert np.mean(as_class[1] != as_class[2]) > 0.3
    shared = fit_method("pattern-checker", [case], FitOptions()).perturb(case)[band]
    np.testing.assert_array_equal(shared, as_class[1])
    own = dataclasses.replace(
        fit_method("pattern-checker", [case], FitOptions()), band_as_roi=False
    )
    np.testing.assert_array_equal(own.perturb(case)[band], -as_class[1])


@pytest.mark.parametrize(("pattern", "marker"), [("pattern-checker", "checkerboard"),
                                                 ("pattern-blocks", "blocks")])  # fmt: skip
def test_for_a_one_class_roi_the_patterns_are_the_markers(cases, pattern, marker):
    case = cases["brain1"]
    np.testing.assert_array_equal(
        fit_method(pattern, [case], FitOptions()).perturb(case),
        fit_method(marker, [case], FitOptions()).perturb(case),
    )


def test_a_saved_pattern_loads_as_the_same_release(cases, tmp_path):
    case = cases["brain1"]
    perturber = fit_method("pattern-multiband", [case], FitOptions(seed=7, class_values=(1,)))
    loaded = load_perturber(perturber.save(tmp_path / "pattern.json"))
    assert loaded.describe() == perturber.describe()
    np.testing.assert_array_equal(loaded.perturb(case), perturber.perturb(case))


def test_texture_energy_sits_in_its_band():
    field = texture((128, 128), 4, 8, seed=[0, 1])
    power = np.abs(np.fft.fft2(field - field.mean())) ** 2
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128), indexing="ij"))
    inside = (radius >= 1 / 8 * 0.7) & (radius <= 1 / 4 * 1.5)  # tanh adds some harmonics
    assert power[inside].sum() / power.sum() > 0.8


def test_checkerboard_orientations_and_period():
    diagonal, rows, columns = (checkerboard((4, 4), 4, o) for o in range(3))
    assert diagonal[0, 0] == diagonal[1, 1] == -diagonal[0, 2] == -diagonal[2, 0]
    assert (rows[:2] == 1).all() and (rows[2:] == -1).all()
    assert (columns[:, :2] == 1).all() and (columns[:, 2:] == -1).all()


def test_a_component_refuses_an_unknown_kind_or_a_period_below_two():
    with pytest.raises(ValueError, match="unknown pattern kind"):
        Component("stripes", 4)
    with pytest.raises(ValueError, match="at least 2 voxels"):
        Component("checkerboard", 1)


def test_with_mixed_steps_a_pattern_uses_both_steps_at_the_floor_rms(cases):
    """A mixed-step budget (medue.budget): every changed voxel moves by the low or the high step,
    fixed keyed positions, and their mean square is the floor's."""
    case = cases["brain1"]
    window, step = case.budget.window, 1.0
    budget = dataclasses.replace(case.budget, epsilon_native=3.0, step_native=step, rms_native=2.6)
    mixed = dataclasses.replace(case, budget=budget)
    perturber = fit_method("pattern-checker", [mixed], FitOptions(seed=4))
    change = np.abs(window.delta_to_native(perturber.perturb(mixed)))[mixed.allowed]
    np.testing.assert_allclose(np.unique(np.round(change, 6)), [2.0, 3.0])
    assert np.sqrt(np.mean(change**2)) == pytest.approx(2.6, abs=0.05)
    np.testing.assert_array_equal(perturber.perturb(mixed), perturber.perturb(mixed))
