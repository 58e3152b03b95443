"""RandomCountermeasure: reproducible draws, every registered transform usable, bad names out."""

from __future__ import annotations

import pytest
import torch

from medue.robust import TRANSFORMS, AppliedCountermeasure, RandomCountermeasure


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand((2, 1, 32, 32), generator=torch.Generator().manual_seed(0))


def draws(sampler: RandomCountermeasure, seed: int, count: int) -> list[AppliedCountermeasure]:
    generator = torch.Generator().manual_seed(seed)
    return [sampler.sample(generator) for _ in range(count)]


def test_the_same_seed_gives_the_same_draws_and_outputs(images: torch.Tensor) -> None:
    sampler = RandomCountermeasure()
    first, second = draws(sampler, 7, 30), draws(sampler, 7, 30)
    assert first == second
    assert len({applied.name for applied in first}) > 5  # the draws do vary
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a.apply(images), b.apply(images), atol=0, rtol=0)
    assert draws(sampler, 8, 30) != first


def test_call_draws_then_applies(images: torch.Tensor) -> None:
    sampler = RandomCountermeasure(["jpeg_approx", "elastic"])
    out, applied = sampler(images, torch.Generator().manual_seed(1))
    (expected,) = draws(sampler, 1, 1)
    assert applied == expected
    torch.testing.assert_close(out, expected.apply(images), atol=0, rtol=0)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_every_transform_applies_and_keeps_shape(images: torch.Tensor, name: str) -> None:
    applied = RandomCountermeasure([name]).sample(torch.Generator().manual_seed(3))
    assert applied.as_dict()["name"] == name
    x = images.clone().requires_grad_(True)
    out = applied.apply(x)
    assert out.shape == images.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    if name != "identity":
        out.sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_parameters_stay_in_their_ranges() -> None:
    for applied in draws(RandomCountermeasure(), 11, 200):
        params = applied.params
        if applied.name == "gaussian_blur":
            assert 0.5 <= params["sigma"] <= 1.5
        elif applied.name == "down_up":
            assert 0.4 <= params["factor"] <= 0.7
        elif applied.name == "rescale_gamma":
            assert 0.9 <= params["scale"] <= 1.1 and abs(params["offset"]) <= 0.05
            assert 0.8 <= params["gamma"] <= 1.25
        elif applied.name == "flip_rotate":
            assert abs(params["angle_degrees"]) <= 10
        elif applied.name == "jpeg_approx":
            assert 30 <= params["quality"] <= 90 and isinstance(params["quality"], int)


def test_elastic_displacement_peaks_at_two_pixels(images: torch.Tensor) -> None:
    from medue.robust import random_displacement

    field = random_displacement(images, seed=5, max_pixels=2.0, smoothing=4.0)
    assert field.shape == (2, 2, 32, 32)
    peaks = field.abs().amax(dim=(1, 2, 3))
    torch.testing.assert_close(peaks, torch.full((2,), 2.0))


def test_unknown_names_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="blurr.*known: identity, gaussian_blur"):
        RandomCountermeasure(["gaussian_blur", "blurr"])
    with pytest.raises(ValueError, match="known"):
        RandomCountermeasure([])
