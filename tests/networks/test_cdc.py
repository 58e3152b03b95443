"""CDC equals conv(x) - theta * (kernel sum) * x(centre); the generator keeps sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from medue.networks.cdc import CentralDifferenceConv
from medue.networks.generator import PerturbationGenerator


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("training", [True, False])
def test_cdc_matches_its_definition(dims: int, training: bool):
    """In training mode as two convolutions, in eval mode (release) as one folded kernel."""
    torch.manual_seed(0)
    layer = CentralDifferenceConv(dims, 1, 1, theta=0.7).train(training)
    x = torch.randn((1, 1) + (9,) * dims)
    weight = layer.conv.weight.detach()[0, 0].numpy()
    image = x[0, 0].numpy()
    # scipy correlate with zero padding = torch conv (which is a correlation)
    plain = ndimage.correlate(image, weight, mode="constant")
    expected = plain - 0.7 * weight.sum() * image
    np.testing.assert_allclose(layer(x)[0, 0].detach().numpy(), expected, atol=1e-5)


def test_cdc_ignores_constant_offsets_when_theta_is_one():
    layer = CentralDifferenceConv(2, 1, 4, theta=1.0)
    x = torch.randn(1, 1, 16, 16)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # away from zero padding
    torch.testing.assert_close(layer(x)[inner], layer(x + 5.0)[inner], atol=1e-4, rtol=0)


@pytest.mark.parametrize(("dims", "size"), [(2, (48, 64)), (3, (8, 16, 24))])
def test_generator_keeps_the_size(dims, size):
    net = PerturbationGenerator(dims, in_channels=3, features=(4, 8, 16), central_difference=0.7)
    assert net(torch.zeros((2, 3) + size)).shape == (2, 1) + size


@pytest.mark.parametrize("dims", [2, 3])
def test_folded_release_pass_equals_the_training_pass(dims: int):
    torch.manual_seed(0)
    layer = CentralDifferenceConv(dims, 5, 7, theta=0.7)
    x = torch.randn((2, 5) + (10,) * dims)
    with torch.no_grad():
        torch.testing.assert_close(layer.eval()(x), layer.train()(x), atol=1e-5, rtol=1e-5)
