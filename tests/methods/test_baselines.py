"""The fit-free baselines: budget, region (ROI or whole image), saved files that load by content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medue.budget import BudgetRequest
from medue.datasets import discover_cases, load_case
from medue.errors import InputError
from medue.methods import FitOptions, fit_method, load_perturber
from medue.methods.baselines import BASELINES, region_mask, region_of
from medue.prepare import PreparedCase, RoiSpec, prepare_case


@pytest.fixture(scope="module")
def breast(sample_dataset: Path) -> PreparedCase:
    case = next(c for c in discover_cases(sample_dataset) if c.image_id == "breast1")
    return prepare_case(load_case(case), RoiSpec(), BudgetRequest())


@pytest.mark.parametrize("method", BASELINES)
def test_baselines_stay_within_budget_and_their_region(breast, method):
    perturber = fit_method(method, [breast], FitOptions(seed=2))
    delta = perturber.perturb(breast)
    outside = ~region_mask(breast, perturber.region)
    assert np.abs(delta).max() <= breast.budget.epsilon + 1e-7
    assert not delta[outside].any()
    assert perturber.describe()["region"] == region_of(method)


def test_whole_image_random_noise_is_the_roi_noise_extended_everywhere(breast):
    roi = fit_method("random", [breast], FitOptions()).perturb(breast)
    whole = fit_method("random-image", [breast], FitOptions()).perturb(breast)
    np.testing.assert_array_equal(whole[breast.allowed], roi[breast.allowed])
    assert np.count_nonzero(whole[~breast.allowed]) == (~breast.allowed).sum()


def test_region_mask_rejects_an_unknown_region(breast):
    with pytest.raises(ValueError, match="unknown region"):
        region_mask(breast, "lungs")


def test_saved_baseline_loads_whatever_its_file_name(breast, tmp_path):
    """``medue fit`` saves under the name the user gives; the content decides how it loads."""
    perturber = fit_method("random-image", [breast], FitOptions(seed=5))
    for name in ("random.json", "random.pt"):
        again = load_perturber(perturber.save(tmp_path / name))
        assert (again.method, again.seed) == ("random-image", 5)
        np.testing.assert_array_equal(again.perturb(breast), perturber.perturb(breast))


def test_a_file_that_is_no_generator_is_an_input_error(tmp_path):
    (tmp_path / "bad.json").write_text('{"method": "blur"}')
    (tmp_path / "bad.pt").write_bytes(b"PK not really a torch file")
    for name in ("bad.json", "bad.pt"):
        with pytest.raises(InputError, match="not a MedUE generator"):
            load_perturber(tmp_path / name)


def test_blocks_is_the_checkerboard_in_four_voxel_squares(breast):
    """Constant over each 4x4 square, alternating between neighbouring squares, full eps."""
    delta = fit_method("blocks", [breast], FitOptions()).perturb(breast)
    z = int(np.argmax(breast.allowed.sum(axis=(1, 2))))
    eps = breast.budget.epsilon
    _, y, x = np.indices(breast.image.shape, sparse=True)
    expected = np.where((y // 4 + x // 4) % 2 == 0, eps, -eps) * breast.allowed
    np.testing.assert_allclose(delta[z], expected[z], atol=1e-7)
    assert set(np.unique(np.abs(delta[breast.allowed]))) == {np.float32(eps)}
