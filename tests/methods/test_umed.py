"""UMed's budget arithmetic and generator round trip."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from medue.budget import BudgetRequest
from medue.datasets import discover_cases, load_case
from medue.methods.registry import STEP_VOXELS_3D, FitOptions, _umed_config
from medue.methods.umed import UMedConfig, compose, fit_umed, load_umed, quantise_ste
from medue.prepare import RoiSpec, prepare_case


def test_quantise_rounds_to_steps_inside_the_budget_with_straight_through_gradient():
    delta = torch.tensor([0.04, -0.26, 0.11, 0.5], requires_grad=True)
    eps, step = torch.tensor([0.25]), torch.tensor([0.1])
    out = quantise_ste(delta, eps, step)
    torch.testing.assert_close(out.detach(), torch.tensor([0.0, -0.2, 0.1, 0.2]))
    out.sum().backward()
    torch.testing.assert_close(delta.grad, torch.ones(4))


def test_compose_respects_masks_texture_and_budget():
    shape = (1, 1, 6, 6)
    band = torch.zeros(shape)
    band[..., :2, :] = 1
    interior = torch.zeros(shape)
    interior[..., 3:, :] = 1
    texture = torch.full(shape, 0.5)
    inputs = {
        "band": band, "interior": interior, "texture": texture, "key": torch.ones(shape),
        "epsilon": torch.tensor([0.1]), "step": torch.tensor([0.0]),
    }  # fmt: skip
    big = torch.full(shape, 50.0)
    delta = compose(big, big, inputs, UMedConfig())
    assert torch.allclose(delta[..., :2, :], torch.tensor(0.1))  # band: full epsilon
    assert torch.all(delta[..., 2, :] == 0)  # neither band nor interior
    assert torch.allclose(delta[..., 3:, :], torch.tensor(0.05))  # interior: eps * texture


def test_saved_generator_reloads_and_gives_the_same_perturbation(sample_dataset, tmp_path):
    case = next(c for c in discover_cases(sample_dataset) if c.image_id == "breast1")
    prepared = prepare_case(load_case(case), RoiSpec(), BudgetRequest())
    perturber = fit_umed([prepared], UMedConfig(iterations=2, batch_size=2, seed=3))
    path = perturber.save(tmp_path / "g.pt")
    again = load_umed(path)
    assert again.config == perturber.config
    np.testing.assert_array_equal(again.perturb(prepared), perturber.perturb(prepared))
    delta = perturber.perturb(prepared)
    assert np.abs(delta).max() <= prepared.budget.epsilon + 1e-7
    assert not delta[~prepared.allowed].any()


def test_3d_mode_fits_and_perturbs_within_budget(sample_dataset):
    case = next(c for c in discover_cases(sample_dataset) if c.image_id == "breast1")
    prepared = prepare_case(load_case(case), RoiSpec(), BudgetRequest(preset="strong"))
    config = UMedConfig(mode="3d", patch=(8, 32, 32), iterations=2, batch_size=2)
    delta = fit_umed([prepared], config).perturb(prepared)
    assert delta.shape == prepared.image.shape
    assert np.abs(delta).max() <= prepared.budget.epsilon + 1e-7
    assert np.abs(delta[prepared.allowed]).max() > 0
    assert not delta[~prepared.allowed].any()


def test_robust_fit_is_deterministic_differs_from_plain_and_round_trips(sample_dataset, tmp_path):
    case = next(c for c in discover_cases(sample_dataset) if c.image_id == "breast1")
    prepared = prepare_case(load_case(case), RoiSpec(), BudgetRequest(preset="strong"))
    common = {"iterations": 3, "batch_size": 2, "seed": 1}
    robust = UMedConfig(**common, robust=("median_blur", "jpeg_approx", "down_up"))
    first, second = fit_umed([prepared], robust), fit_umed([prepared], robust)
    plain = fit_umed([prepared], UMedConfig(**common))
    np.testing.assert_array_equal(first.perturb(prepared), second.perturb(prepared))
    # the surrogate saw filtered patches, so its losses (and the generators) differ from plain
    assert first.history["surrogate_loss_curve"] != plain.history["surrogate_loss_curve"]
    assert load_umed(first.save(tmp_path / "r.pt")).config.robust == robust.robust


def test_robust_fit_refuses_geometric_countermeasures(sample_dataset):
    case = next(c for c in discover_cases(sample_dataset) if c.image_id == "breast1")
    prepared = prepare_case(load_case(case), RoiSpec(), BudgetRequest())
    with pytest.raises(ValueError, match="intensity countermeasures only"):
        fit_umed([prepared], UMedConfig(iterations=1, batch_size=2, robust=("flip_rotate",)))


@pytest.mark.parametrize(
    ("largest", "patch"),
    [((8, 32, 32), (8, 32, 32)), ((7, 30, 90), (8, 32, 32)), ((40, 200, 200), (8, 32, 32)),
     ((5, 14, 90), (8, 16, 32))],
)  # fmt: skip
def test_3d_training_patch_is_never_larger_than_the_largest_volume(largest, patch):
    cases = [SimpleNamespace(image=np.zeros(largest)), SimpleNamespace(image=np.zeros((4, 8, 8)))]
    assert _umed_config(FitOptions(mode="3d"), cases).patch == patch


@pytest.mark.parametrize("largest", [(8, 32, 32), (28, 256, 256), (300, 512, 512), (4, 8, 8)])
def test_3d_training_step_has_a_bounded_number_of_voxels(largest):
    """A step's cost must not grow with the volumes: patch voxels x batch <= STEP_VOXELS_3D
    (2**15), and a small patch gets more of them per step, up to the 2D batch of 8."""
    config = _umed_config(FitOptions(mode="3d"), [SimpleNamespace(image=np.zeros(largest))])
    voxels = int(np.prod(config.patch)) * config.batch_size
    assert STEP_VOXELS_3D == 2**15
    assert voxels <= STEP_VOXELS_3D
    assert config.batch_size == min(8, STEP_VOXELS_3D // int(np.prod(config.patch)))
    assert _umed_config(FitOptions(mode="2d"), []).batch_size == 8  # 2D: unchanged
