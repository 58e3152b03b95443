"""Data-side countermeasures: filters applied once, slice by slice, to the training images.

These are the cheap things an attacker tries first because they need no change to training: they
remove fine, high-frequency structure (where unlearnable perturbations tend to live) at some cost
to the anatomy. Each works on one 2D slice at a time, as a 2D victim sees them, and the result is
clipped back to [0, 1] so the victim's input range does not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from medue.evaluate.countermeasures.base import Countermeasure, check_slices


@dataclass(frozen=True, kw_only=True)
class SliceCountermeasure(Countermeasure):
    """A per-slice image transform; subclasses implement ``apply_slice``."""

    @property
    def kind(self) -> str:
        return "data"

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        images = check_slices(images)
        out = np.empty_like(images)
        for i, image in enumerate(images):
            out[i] = self.apply_slice(image)
        return np.clip(out, 0.0, 1.0)

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        """One (H, W) float32 slice in, one of the same shape out (clipped by the caller)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Gaussian(SliceCountermeasure):
    """Gaussian blur (``scipy.ndimage.gaussian_filter``, reflect borders): a linear low-pass."""

    name: str = "gaussian"
    sigma: float = 1.0  # pixels

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(image, self.sigma)


@dataclass(frozen=True, kw_only=True)
class Median(SliceCountermeasure):
    """Median filter (``scipy.ndimage.median_filter``), the classic edge-preserving denoiser.

    It removes sparse impulses, but note that a one-pixel checkerboard is a root signal of the
    3x3 median (5 of the 9 window pixels share the centre's sign), so it passes unchanged.
    """

    name: str = "median"
    size: int = 3

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        return ndimage.median_filter(image, size=self.size)


@dataclass(frozen=True, kw_only=True)
class DownUp(SliceCountermeasure):
    """Down-sample then up-sample back to the exact shape, with ``torch.nn.functional.interpolate``.

    Down: ``mode="area"`` (box average, so it anti-aliases: at factor 0.5 it is 2x2 pooling and
    cancels the Nyquist frequency exactly). Up: ``mode="bilinear"``, ``align_corners=False``.
    """

    name: str = "downup"
    factor: float = 0.5

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape
        small = (max(1, round(height * self.factor)), max(1, round(width * self.factor)))
        tensor = torch.from_numpy(np.ascontiguousarray(image))[None, None]
        down = F.interpolate(tensor, size=small, mode="area")
        up = F.interpolate(down, size=(height, width), mode="bilinear", align_corners=False)
        return up[0, 0].numpy()


@dataclass(frozen=True, kw_only=True)
class Rewindow(SliceCountermeasure):
    """Intensity re-windowing: clip each slice to its own percentile window, stretch to [0, 1].

    An attacker's normalisation rather than the protector's: it changes the scale every
    perturbation was budgeted in. A flat slice (window of zero width) is left as it is.
    """

    name: str = "rewindow"
    low_percentile: float = 1.0
    high_percentile: float = 99.0

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        low, high = np.percentile(image, (self.low_percentile, self.high_percentile))
        if high <= low:
            return image
        return (np.clip(image, low, high) - low) / (high - low)
