"""Visibility against the image's own noise: sigma estimated from the image, change in sigma,
PSNR over the changed region's box."""

from __future__ import annotations

import numpy as np
import pytest

from medue import metrics
from medue.visibility import noise_sigma, region_box, visibility


def noisy_volume(sigma: float, shape=(6, 64, 64), seed=0) -> np.ndarray:
    smooth = np.linspace(0, 400, shape[2])[np.newaxis, np.newaxis, :] * np.ones(shape)
    return smooth + np.random.default_rng(seed).normal(0, sigma, shape)


@pytest.mark.parametrize("sigma", [2.0, 10.0, 28.0])
def test_noise_sigma_recovers_the_added_noise(sigma):
    image = noisy_volume(sigma)
    region = np.zeros(image.shape, bool)
    region[:, 24:40, 24:40] = True
    assert noise_sigma(image, region) == pytest.approx(sigma, rel=0.15)
    assert noise_sigma(image) == pytest.approx(sigma, rel=0.15)


def test_change_is_measured_in_sigma_and_over_the_region():
    image = noisy_volume(10.0)
    region = np.zeros(image.shape, bool)
    region[2:4, 28:36, 28:36] = True
    change = np.where(region, 10.0, 0.0) * np.sign(
        np.random.default_rng(1).normal(size=image.shape)
    )
    seen = visibility(image, image + change, region, data_range=float(np.ptp(image)))
    assert seen["noise_sigma"] == pytest.approx(10.0, rel=0.15)
    assert seen["epsilon_over_sigma"] == pytest.approx(10.0 / seen["noise_sigma"])
    assert seen["rms_over_sigma"] == pytest.approx(10.0 / seen["noise_sigma"])  # over the region
    whole = metrics.psnr(image, image + change, data_range=float(np.ptp(image)))
    assert seen["psnr_roi_db"] < whole  # the region is where the change is


def test_region_box_grows_in_plane_only_and_stays_inside():
    region = np.zeros((5, 20, 20), bool)
    region[2, 1:3, 15:18] = True
    assert region_box(region, margin=4) == (slice(2, 3), slice(0, 7), slice(11, 20))
