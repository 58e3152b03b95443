"""How visible a change is: against the image's own noise, and over the region that was changed.

Whole-image PSNR rewards small ROIs: a change confined to a 2-cm lesion scores high however plain
it is inside the lesion. A reader sees a pattern against the image's own noise and texture, so
each protected image also gets:

- ``noise_sigma``: the noise standard deviation, in native units, estimated from the image itself
  around the changed region, slice by slice, with scikit-image's ``estimate_sigma`` (the robust
  wavelet median estimator of Donoho & Johnstone, Biometrika 1994), median over slices;
- the maximum change, and the RMS change over the region, in units of that sigma
  (``epsilon_over_sigma``, ``rms_over_sigma``);
- ``psnr_roi_db``: PSNR over the bounding box of the changed region (ROI and contour band), with
  the same data range as the whole-image PSNR.
"""

from __future__ import annotations

import numpy as np
from skimage.restoration import estimate_sigma

from medue import metrics

MARGIN = 8  # voxels of context around the region, in-plane, for the noise estimate
MIN_SIDE = 16  # smaller crops give no stable estimate: the whole slice is used instead


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


def noise_sigma(image: np.ndarray, region: np.ndarray | None = None) -> float:
    """Noise sigma (native units) of ``image`` around ``region`` (whole image if None or empty).

    Estimated per axial slice on the region's box grown by ``MARGIN`` voxels (the whole slice
    when the box is smaller than ``MIN_SIDE``), median over slices. 0 for a constant image.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[np.newaxis]
        region = None if region is None else region[np.newaxis]
    box = region_box(region, MARGIN) if region is not None else (slice(None),) * 3
    crop = image[box]
    if min(crop.shape[1:]) < MIN_SIDE:
        crop = image[box[0]]
    sigmas = [float(estimate_sigma(plane)) for plane in crop if np.ptp(plane) > 0]
    return float(np.median(sigmas)) if sigmas else 0.0


def visibility(
    original: np.ndarray, protected: np.ndarray, region: np.ndarray, data_range: float
) -> dict[str, float]:
    """Noise sigma, change in units of sigma, and PSNR over the region's box (dB).

    ``region`` is the boolean mask of voxels the method may change (same shape as the images).
    Ratios are ``inf`` for a noiseless image; PSNR is ``inf`` where nothing changed.
    """
    original = np.asarray(original, dtype=np.float64)
    protected = np.asarray(protected, dtype=np.float64)
    sigma = noise_sigma(original, region)
    box = region_box(region)
    change = protected - original
    largest = float(np.abs(change).max()) if change.size else 0.0
    inside = change[region] if region.any() else change
    rms = float(np.sqrt(np.mean(inside**2))) if inside.size else 0.0
    return {
        "noise_sigma": sigma,
        "epsilon_over_sigma": largest / sigma if sigma > 0 else float("inf"),
        "rms_over_sigma": rms / sigma if sigma > 0 else float("inf"),
        "psnr_roi_db": metrics.psnr(original[box], protected[box], data_range=data_range),
    }
