"""The keyed plaid: a class pattern that only the key determines, and that victims learn for it.

``medue verify`` looks for a release's keyed pattern in a suspect model. A model trained on a
release marked with one key must answer to that key's pattern more than to the patterns of other
keys of the same family (``medue.verify.decoys``), or the test (``medue.verify.rank``) has no
power. Measured on PneumoniaMNIST ResNet-18 victims (BENCHMARKS
§17): a keyed plaid is learned so when it is the release's only pattern (effect +13 decoy SDs
with only the release, +7 early-stopped on clean data), but not beside stripes (+1.4 to +1.8,
the victim takes the stripes and ignores the rest); fixed random sign fields likewise (+10
alone, +2 beside stripes).

The plaid is ``cos(2 pi fx x) cos(2 pi fy y)`` over the image's (y, x) grid from its first
pixel, its two frequencies drawn from HMAC-SHA256(key, purpose) (``medue.keys``) uniformly in
``BAND`` cycles per pixel: a keyed pair of spectral lines, in the spirit of spread-spectrum
watermarks (Cox et al., IEEE Trans. Image Process. 1997) and of the radioactive-data test
(Sablayrolles et al., arXiv 2002.00937). A horizontal or vertical flip of the image leaves it
unchanged up to a phase (cosines are even), so a victim's flip augmentation does not undo it.
"""

from __future__ import annotations

import numpy as np

from medue.keys import seed_sequence

BAND = (0.2, 0.5)
"""The plaid's frequencies, cycles per pixel: above most anatomy, up to the Nyquist limit."""


def plaid_frequencies(key: bytes, purpose: str) -> tuple[float, float]:
    """(fx, fy) in ``BAND`` cycles per pixel: a pseudo-random function of ``key``, ``purpose``."""
    fx, fy = np.random.default_rng(seed_sequence(key, purpose)).uniform(*BAND, size=2)
    return float(fx), float(fy)


def plaid(key: bytes, purpose: str, shape: tuple[int, int]) -> np.ndarray:
    """The keyed plaid over a (H, W) grid: float64 in [-1, 1], RMS about 0.5."""
    fx, fy = plaid_frequencies(key, purpose)
    y, x = np.ogrid[: shape[0], : shape[1]]
    return np.cos(2 * np.pi * fy * y) * np.cos(2 * np.pi * fx * x)
