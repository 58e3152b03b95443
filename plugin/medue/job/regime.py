"""Which protection regime a release is in: does its change stand out of the images' own
fine-scale noise?

A label-locked voxel pattern protects when the victim learns it as a shortcut (Huang et al., ICLR
2021; Yu et al., KDD 2022), which it can only do when the pattern is detectable in the image: a
one-voxel pattern competes with the image's noise at the finest scale (``noise_sigma_fine``,
scikit-image's wavelet estimator, Donoho & Johnstone 1994). MedUE measured two real regimes with
the same one-voxel checkerboard (docs/BENCHMARKS.md, "Real multi-patient data"):

- DRIVE retinal vessels (smooth fundus photographs): epsilon = 2 grey levels is 2.1x the fine-scale
  noise, and a UNet trained on the release learned the pattern instead of the vessels;
- MSD lung-tumour CT patches (textured lung at 2 mm): epsilon = 2, 4 and 8 grey levels are 0.1x,
  0.2x and 0.5x the fine-scale noise, and the victims learned the tumours as if unprotected.

The ratio is a rule of thumb drawn from these two datasets, not a guarantee; a check
(``medue protect --check``) measures the victims themselves.
"""

from __future__ import annotations

import numpy as np

SHORTCUT_AT_OR_ABOVE = 1.5  # DRIVE: 2.1
BURIED_AT_OR_BELOW = 0.5  # MSD lung CT: 0.1-0.5


def pattern_regime(cases: list[dict]) -> dict | None:
    """The median of epsilon / fine-scale noise over a manifest's ``cases`` and what it means.

    Returns ``{"epsilon_over_fine_noise": float, "regime": "shortcut" | "buried" | "between",
    "sentence": str}``, or ``None`` when no case has a measured fine-scale noise.
    """
    ratios = [
        case["epsilon_native"] / case["metrics"]["noise_sigma_fine"]
        for case in cases
        if case.get("metrics", {}).get("noise_sigma_fine", 0) > 0
    ]
    if not ratios:
        return None
    ratio = float(np.median(ratios))
    stated = f"the change is {ratio:.2g}x the images' own fine-scale noise"
    if ratio >= SHORTCUT_AT_OR_ABOVE:
        regime = "shortcut"
        sentence = (
            f"{stated}: the regime where victims can learn the pattern as a shortcut (like DRIVE "
            "retinal vessels, 2.1x)"
        )
    elif ratio <= BURIED_AT_OR_BELOW:
        regime = "buried"
        sentence = (
            f"{stated}: the pattern is buried in the image's own texture, the regime where victims "
            "learn the anatomy and ignore it (like MSD lung-tumour CT, 0.1-0.5x: no protection "
            "there); a larger epsilon or another method is needed"
        )
    else:
        regime = "between"
        sentence = (
            f"{stated}: between the two regimes MedUE measured (shortcut learned at 2.1x on "
            "DRIVE, ignored at 0.1-0.5x on MSD lung CT)"
        )
    return {"epsilon_over_fine_noise": ratio, "regime": regime, "sentence": sentence}
