"""Differentiable attacker countermeasures, for training protections that survive them.

``transforms`` holds torch versions of the cheap data-side countermeasures an attacker applies
to downloaded images (blur, median, down-up sampling, re-windowing, 8-bit export, flips and
rotations, elastic warps, JPEG); ``sampler`` draws one of them at random per step, as
expectation over transformation needs.
"""

from __future__ import annotations

from medue.robust.sampler import (
    GEOMETRIC,
    TRANSFORMS,
    AppliedCountermeasure,
    RandomCountermeasure,
    random_displacement,
)
from medue.robust.transforms import (
    down_up,
    elastic,
    flip_rotate,
    gaussian_blur,
    jpeg_approx,
    jpeg_quant_table,
    mean_blur,
    median_blur,
    quantise,
    rescale_gamma,
    symmetric_pad,
)

ROBUST_TRAINING = (
    "identity", "gaussian_blur", "mean_blur", "median_blur", "down_up", "rescale_gamma",
    "quantise", "jpeg_approx",
)  # fmt: skip
"""What the ``robust`` preset trains UMed against: every intensity countermeasure, and none."""

__all__ = [
    "ROBUST_TRAINING",
    "GEOMETRIC",
    "TRANSFORMS",
    "AppliedCountermeasure",
    "RandomCountermeasure",
    "down_up",
    "elastic",
    "flip_rotate",
    "gaussian_blur",
    "jpeg_approx",
    "jpeg_quant_table",
    "mean_blur",
    "median_blur",
    "quantise",
    "random_displacement",
    "rescale_gamma",
    "symmetric_pad",
]
