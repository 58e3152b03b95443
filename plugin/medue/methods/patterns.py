"""Fixed class patterns locked to the label: the shortcut a victim learns instead of the anatomy.

Unlearnable examples work by offering the model a feature that predicts the target more easily than
the content does (Huang et al., ICLR 2021); for a class-wise, image-independent pattern the shortcut
is the pattern itself (Huang et al.'s class-wise noise; Yu et al., "Availability Attacks Create
Shortcuts", KDD 2022). MedUE's benchmarks found that such fixed patterns are what segmentation
victims learn, while image-following generator output is not (docs/BENCHMARKS.md §4).

Each class of the label map gets its own fixed pattern over the image grid, the same in every
image and every axial slice; a voxel the method may change gets ``epsilon * P[class](y, x)``.
Class 0 is the contour band outside the ROI (UMed's band, arXiv 2403.14250). A pattern is a
weighted sum of components, each a function of the in-plane position:

- ``checkerboard`` of period ``p`` voxels (squares of ``p / 2``; ``p = 2`` is the one-voxel
  marker). Foreground classes differ by orientation (diagonal, rows, columns) and sign, class 1
  getting the plain diagonal checkerboard.
- ``texture``: band-limited noise with energy at periods ``p_low``..``p_high`` voxels, drawn
  from the key, one field per class, scaled to a peak of 1 and pushed towards +-1 by ``tanh``.
- ``rings``: ``cos(2 pi d / p)`` of the in-plane signed distance ``d`` to the ROI contour,
  sign per class: concentric bands that follow the outline.

By default the band outside the ROI carries class 1's pattern (``band_as_roi``): measured on
the lesion benchmark, one pattern over the ROI and its band is learned better than one that
changes at the contour (4x4 squares in both vs squares in the band and stripes in the ROI, at
1.5 sigma: the victim kept 74 % vs 90 % of its clean DSC;
docs/BENCHMARKS.md §8), so for a one-class ROI ``pattern-checker`` and ``pattern-blocks`` write
exactly the ``checkerboard`` and ``blocks`` markers. With ``band_as_roi`` off, the band gets class
1's pattern negated. The sum is divided by the sum of the weights, so ``|P| <= 1`` and the release
stays within epsilon. With a mixed-step budget (``medue.budget``: the PSNR floor between two
whole steps) the amplitude is the upper step on a keyed share of the grid, the lower elsewhere.
Nothing is fitted: the perturber is its parameters and its key, saved as
JSON (in the owner's private folder), which is what a key holder needs to subtract the pattern.

The key (``medue.keys``: 32 secret bytes, stored as hex) seeds every draw through
HMAC-SHA256 under a purpose label: ``pattern/amplitude`` (the mixed-step positions),
``pattern/texture/<class>`` and ``pattern/blocks``. A plain checkerboard has no key space (two
phases, and MedUE always uses the same one): only its keyed amplitude positions depend on the
key. ``pattern-checker-keyed`` adds one: the checkerboard's sign is flipped in secret
``SECRET_BLOCK`` x ``SECRET_BLOCK`` voxel blocks chosen by the key (one fair coin per block),
with the same budget rules. An integer key (files written before keys existed) draws from
``default_rng([key, purpose index])`` as those files did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from medue.keys import seed_sequence
from medue.methods.base import save_description
from medue.prepare import PreparedCase

KINDS = ("checkerboard", "texture", "rings")
ORIENTATIONS = 3  # diagonal, rows, columns: the checkerboard's per-class variants


@dataclass(frozen=True)
class Component:
    """One band of a pattern: its kind, period range (voxels) and weight."""

    kind: str
    period: float
    period_high: float = 0.0  # texture only: the band's longest period (0 = ``period``)
    weight: float = 1.0
    secret_blocks: int = 0  # checkerboard only: sign flipped in keyed blocks of this size (0: none)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown pattern kind {self.kind!r} (choose one of: {KINDS})")
        if self.period < 2:
            raise ValueError(f"a pattern's period must be at least 2 voxels, got {self.period}")


NAMED: dict[str, tuple[Component, ...]] = {
    "pattern-checker": (Component("checkerboard", 2),),
    "pattern-checker-keyed": (Component("checkerboard", 2, secret_blocks=8),),
    "pattern-checker4": (Component("checkerboard", 4),),
    "pattern-blocks": (Component("checkerboard", 8),),
    "pattern-texture": (Component("texture", 3, 6),),
    "pattern-rings": (Component("rings", 6),),
    "pattern-multiband": (Component("checkerboard", 2), Component("checkerboard", 8)),
}
"""The pattern methods a user can name (``medue protect --method pattern-checker``)."""
PATTERN_METHODS = tuple(NAMED)


@dataclass
class PatternPerturber:
    """A fixed class-wise pattern; ``band_as_roi`` gives the outer band class 1's pattern."""

    method: str
    components: tuple[Component, ...]
    key: int | str = 0  # the secret key as hex (``medue.keys``); an int: a seed of older files
    band_as_roi: bool = True
    class_values: tuple[int, ...] = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def perturb(self, case: PreparedCase) -> np.ndarray:
        """``epsilon * P[class]`` on ``case.allowed``, zero elsewhere (float32, (z, y, x))."""
        classes = case.classes.astype(np.int64)
        if self.band_as_roi:
            classes = np.where(classes == 0, 1, classes)
        # class 0 (the band, when it has its own pattern) -> variant -1: class 1's pattern negated
        pattern = np.zeros(case.image.shape, dtype=np.float64)
        total = sum(c.weight for c in self.components)
        for component in self.components:
            pattern += component.weight * self._component(component, classes, case)
        delta = self._amplitude(case) * pattern / total * case.allowed
        return delta.astype(np.float32)

    def _amplitude(self, case: PreparedCase) -> float | np.ndarray:
        """Epsilon, or with mixed steps (``Budget.mixed_amplitudes``) the high step on a fixed
        keyed share of the in-plane grid and the low one elsewhere, (y, x), normalised units."""
        mixed = case.budget.mixed_amplitudes()
        if mixed is None:
            return case.budget.epsilon
        low, high, share = mixed
        shape = case.image.shape[1:]
        if ("amplitude", shape) not in self._cache:  # one keyed draw per grid, like the planes
            self._cache["amplitude", shape] = self._rng("amplitude", 2).random(shape)
        return np.where(self._cache["amplitude", shape] < share, high, low)

    def _rng(self, purpose: str, legacy: int) -> np.random.Generator:
        """The generator of one keyed draw: HMAC-SHA256(key, ``pattern/<purpose>``) as the seed
        (``medue.keys.derive``); an integer key draws from ``[key, legacy]`` as before."""
        if isinstance(self.key, str):
            return np.random.default_rng(
                seed_sequence(bytes.fromhex(self.key), f"pattern/{purpose}")
            )
        return np.random.default_rng([self.key, legacy])

    def _block_signs(self, size: int, shape: tuple[int, int]) -> np.ndarray:
        """+-1 per ``size`` x ``size`` block of the in-plane grid, drawn from the key."""
        if ("blocks", size, shape) not in self._cache:
            blocks = (-(-shape[0] // size), -(-shape[1] // size))
            signs = np.where(self._rng("blocks", 3).random(blocks) < 0.5, -1.0, 1.0)
            full = np.repeat(np.repeat(signs, size, axis=0), size, axis=1)
            self._cache["blocks", size, shape] = full[: shape[0], : shape[1]]
        return self._cache["blocks", size, shape]

    def _component(self, c: Component, classes: np.ndarray, case: PreparedCase) -> np.ndarray:
        shape = case.image.shape[1:]
        out = np.zeros(case.image.shape, dtype=np.float64)
        rings = _rings(case, c.period) if c.kind == "rings" else None  # once, not per class
        for k in np.unique(classes):
            where = classes == k
            if rings is not None:
                out[where] = _class_sign(int(k)) * rings[where]
            else:
                plane = self._plane(c, int(k), shape)
                out[where] = np.broadcast_to(plane, case.image.shape)[where]
        return out

    def _plane(self, c: Component, k: int, shape: tuple[int, int]) -> np.ndarray:
        cache_key = (c, k, shape)
        if cache_key not in self._cache:
            if c.kind == "checkerboard" and k == 0:
                plane = -checkerboard(shape, c.period, 0)
            elif c.kind == "checkerboard":
                plane = checkerboard(shape, c.period, (k - 1) % ORIENTATIONS) * _class_sign(k)
            else:
                plane = texture(shape, c.period, c.period_high or c.period,
                                self._rng(f"texture/{k}", k))  # fmt: skip
            if c.secret_blocks:
                plane = plane * self._block_signs(c.secret_blocks, shape)
            self._cache[cache_key] = plane
        return self._cache[cache_key]

    def describe(self) -> dict:
        return {
            "method": self.method,
            "components": [asdict(c) for c in self.components],
            "key": self.key,
            "band_as_roi": self.band_as_roi,
            "class_values": list(self.class_values),
        }

    def save(self, path: str | Path) -> Path:
        return save_description(self, path)


def pattern_perturber(method: str, key: int | str = 0, class_values=()) -> PatternPerturber:
    """The named pattern method with its key (hex of the secret key, or an integer seed)."""
    return PatternPerturber(method, NAMED[method], key, class_values=tuple(class_values))


def load_pattern(data: dict) -> PatternPerturber:
    """A saved pattern perturber (the dict ``describe`` wrote)."""
    return PatternPerturber(
        method=data["method"],
        components=tuple(Component(**c) for c in data["components"]),
        key=data["key"] if isinstance(data["key"], str) else int(data["key"]),
        band_as_roi=bool(data.get("band_as_roi", True)),
        class_values=tuple(int(v) for v in data.get("class_values", ())),
    )


def checkerboard(shape: tuple[int, int], period: float, orientation: int = 0) -> np.ndarray:
    """+-1 squares of ``period / 2`` voxels: diagonal (0), rows (1) or columns (2)."""
    half = max(1, int(round(period / 2)))
    y, x = np.indices(shape) // half
    parity = (y + x, y, x)[orientation] % 2
    return np.where(parity == 0, 1.0, -1.0)


def texture(shape: tuple[int, int], low: float, high: float, seed) -> np.ndarray:
    """Band-limited noise (periods ``low``..``high`` voxels), peak 1, pushed towards +-1;
    ``seed`` is a numpy Generator or anything ``default_rng`` takes as a seed."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    radius = np.hypot(fy, fx)
    passband = (radius >= 1.0 / high - 1e-9) & (radius <= 1.0 / low + 1e-9)
    field_ = np.real(np.fft.ifft2(spectrum * passband))
    field_ /= np.abs(field_).max() or 1.0
    return np.tanh(3.0 * field_) / np.tanh(3.0)


def _rings(case: PreparedCase, period: float) -> np.ndarray:
    """cos(2 pi d / period) of the in-plane signed distance d (voxels) to the ROI contour."""
    roi = case.classes > 0
    out = np.zeros(roi.shape, dtype=np.float64)
    for z, plane in enumerate(roi):
        if plane.any():
            inside = ndimage.distance_transform_edt(plane)
            outside = ndimage.distance_transform_edt(~plane)
            out[z] = np.cos(2 * np.pi * (inside - outside) / period)
    return out


def _class_sign(k: int) -> float:
    """Class 0 (the band): -1; classes 1, 2, 3: +1; 4, 5, 6: -1; ... (orientation fastest)."""
    return -1.0 if k == 0 else (1.0 if ((k - 1) // ORIENTATIONS) % 2 == 0 else -1.0)
