"""How visible a change is: against the image's own noise, and over the region that was changed.

Whole-image PSNR rewards small ROIs: a change confined to a 2-cm lesion scores high however plain
it is inside the lesion. A reader sees a pattern against the image's own noise and texture, so
each protected image also gets:

- ``noise_sigma``: the noise standard deviation, in native units, as a radiologist measures it
  (the SD of the values in a uniform region), found automatically: the mode of the histogram of
  local standard deviations in 7x7-voxel windows over soft tissue on the slices of the changed
  region, median over slices — the "global noise level" of Christianson et al., AJR
  2015;204:W93-W99, validated there against hand-placed ROIs on clinical CT. It sees correlated
  noise (CT's mid-frequency spectrum) that a wavelet estimator misses;
- ``noise_sigma_fine``: scikit-image's ``estimate_sigma`` (the wavelet median estimator of
  Donoho & Johnstone, Biometrika 1994) on the same crop: the noise at the finest scale only,
  which is what masks a voxel-frequency pattern. On a smooth-kernel CT it is 5-10x below
  ``noise_sigma`` (docs/METHODS.md, "Visibility");
- the maximum change, and the RMS change over the region, in units of ``noise_sigma``
  (``epsilon_over_sigma``, ``rms_over_sigma``);
- ``psnr_roi_db``: PSNR over the bounding box of the changed region (ROI and contour band), with
  the same data range as the whole-image PSNR.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.restoration import estimate_sigma

from medue import metrics

MARGIN = 8  # voxels of context around the region, in-plane, for the noise estimate
MIN_SIDE = 16  # smaller crops give no stable estimate: the whole slice is used instead
KERNEL = 7  # local-SD window (voxels, in-plane)
BINS = 100  # histogram of local SDs, 0 .. 90th percentile
MIN_WINDOWS = 50  # fewer tissue windows than this: all windows of the slice are used


def region_box(region: np.ndarray, margin: int = 0) -> tuple[slice, ...]:
    """Bounding box of ``region`` (2D or (z, y, x)), grown in-plane by ``margin`` voxels."""
    if not region.any():
        return tuple(slice(None) for _ in region.shape)
    coords = np.argwhere(region)
    low, high = coords.min(axis=0), coords.max(axis=0) + 1
    grow = [0] * (region.ndim - 2) + [margin, margin]
    return tuple(
        slice(max(0, int(lo) - g), min(n, int(hi) + g))
        for lo, hi, g, n in zip(low, high, grow, region.shape, strict=True)
    )


def noise_sigma(
    image: np.ndarray, region: np.ndarray | None = None, tissue: tuple[float, float] | None = None
) -> float:
    """Noise SD (native units) of ``image`` on the axial slices ``region`` touches (all if None).

    Global noise level (Christianson et al. 2015): per slice, the SD of every ``KERNEL`` x
    ``KERNEL`` window around its own least-squares plane, kept where the window's mean lies in
    ``tissue`` (native units; CT: soft tissue, ``CT_TISSUE``) or, without it, above a tenth of
    the slice's 99th percentile (MR: not the air around the head); the mode of their histogram;
    median over slices. White noise of SD 10 on a ramp reads 9.9. 0 for a constant image.
    """
    planes = _planes(image, region, whole=True)
    sigmas = [s for s in (_global_noise_level(p, tissue) for p in planes) if s > 0]
    return float(np.median(sigmas)) if sigmas else 0.0


CT_TISSUE = (-150.0, 300.0)  # HU: fat to enhanced soft tissue, where CT noise is measured


def fine_noise_sigma(image: np.ndarray, region: np.ndarray | None = None) -> float:
    """Noise SD at the finest scale (scikit-image ``estimate_sigma``) around ``region``."""
    planes = _planes(image, region, whole=False)
    sigmas = [float(estimate_sigma(p)) for p in planes if np.ptp(p) > 0]
    return float(np.median(sigmas)) if sigmas else 0.0


def _planes(image: np.ndarray, region: np.ndarray | None, whole: bool) -> np.ndarray:
    """The (z, y, x) slices ``region`` touches: whole, or its box grown by ``MARGIN``."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[np.newaxis]
        region = None if region is None else region[np.newaxis]
    box = region_box(region, MARGIN) if region is not None else (slice(None),) * 3
    crop = image[box]
    if whole or min(crop.shape[1:]) < MIN_SIDE:
        crop = image[box[0]]
    return crop


def _global_noise_level(plane: np.ndarray, tissue: tuple[float, float] | None) -> float:
    if min(plane.shape) <= KERNEL or np.ptp(plane) == 0:
        return 0.0
    local_sd, local_mean = _detrended_local_sd(plane)
    if tissue is not None:
        keep = (local_mean >= tissue[0]) & (local_mean <= tissue[1])
    else:
        keep = local_mean >= 0.1 * np.percentile(plane, 99)
    keep &= local_sd > 0  # padding and clipped air are flat, not noiseless tissue
    local_sd = local_sd[keep] if keep.sum() >= MIN_WINDOWS else local_sd[local_sd > 0]
    top = float(np.percentile(local_sd, 90)) if local_sd.size else 0.0
    if top <= 0:
        return 0.0
    counts, edges = np.histogram(local_sd, bins=BINS, range=(0.0, top))
    counts = ndimage.uniform_filter1d(counts.astype(np.float64), 3)
    peak = int(np.argmax(counts))
    return float((edges[peak] + edges[peak + 1]) / 2)


def _detrended_local_sd(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SD of each ``KERNEL`` x ``KERNEL`` window around its least-squares plane, and its mean.

    A smooth gradient (a bias field, a ramp of enhancement) is not noise: removing each window's
    plane keeps it out. In a square window the y and x coordinates are uncorrelated, so the
    residual variance is ``var(I) - cov(I, y)^2 / var(y) - cov(I, x)^2 / var(x)``, all from
    box filters; ``n - 3`` degrees of freedom. Only windows inside the plane, flattened.
    """

    def mean(a: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(a, KERNEL)

    y, x = (a.astype(np.float64) for a in np.indices(plane.shape))
    m = mean(plane)
    var = mean(plane * plane) - m * m
    var_coord = (KERNEL * KERNEL - 1) / 12.0  # variance of 0..k-1 along one axis of the window
    for coord in (y, x):
        cov = mean(plane * coord) - m * mean(coord)
        var = var - cov * cov / var_coord
    n = KERNEL * KERNEL
    half = KERNEL // 2
    sd = np.sqrt(np.maximum(var, 0.0) * n / (n - 3))
    inner = (slice(half, -half), slice(half, -half))
    return sd[inner].ravel(), m[inner].ravel()


def visibility(
    original: np.ndarray,
    protected: np.ndarray,
    region: np.ndarray,
    data_range: float,
    sigma: float | None = None,
) -> dict[str, float]:
    """Noise sigma, change in units of sigma, and PSNR over the region's box (dB).

    ``region`` is the boolean mask of voxels the method may change (same shape as the images);
    ``sigma`` the image's noise SD if already measured (the budget's), else estimated here.
    Ratios are ``inf`` for a noiseless image; PSNR is ``inf`` where nothing changed.
    """
    original = np.asarray(original, dtype=np.float64)
    protected = np.asarray(protected, dtype=np.float64)
    sigma = noise_sigma(original, region) if sigma is None else sigma
    box = region_box(region)
    change = protected - original
    largest = float(np.abs(change).max()) if change.size else 0.0
    inside = change[region] if region.any() else change
    rms = float(np.sqrt(np.mean(inside**2))) if inside.size else 0.0
    return {
        "noise_sigma": sigma,
        "noise_sigma_fine": fine_noise_sigma(original, region),
        "epsilon_over_sigma": largest / sigma if sigma > 0 else float("inf"),
        "rms_over_sigma": rms / sigma if sigma > 0 else float("inf"),
        "psnr_roi_db": metrics.psnr(original[box], protected[box], data_range=data_range),
    }
