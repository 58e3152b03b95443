"""Training patches for the generators: crops of prepared cases, mostly centred on the ROI.

Every case is (z, y, x); a 2D patch is a (1, h, w) crop, a 3D patch (d, h, w). Crops that reach
past the image are zero-padded (masks are zero there, so no perturbation is learned on padding).
Also the fixed "key": one seeded +-1 tile per class, repeated over absolute voxel coordinates;
each voxel sees the tile of its own class. It is a generator input and UMed's starting pattern
(see docs/METHODS.md); the same voxel always sees the same key, in training crops and at release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medue.prepare import PreparedCase

KEY_TILE = 8


def key_tile(seed: int, spatial_dims: int, num_classes: int) -> np.ndarray:
    """Seeded +-1 tiles, (classes, depth, KEY_TILE, KEY_TILE); depth 1 in 2D, KEY_TILE in 3D."""
    depth = 1 if spatial_dims == 2 else KEY_TILE
    rng = np.random.default_rng(seed)
    shape = (num_classes, depth, KEY_TILE, KEY_TILE)
    return rng.choice(np.array([-1.0, 1.0], np.float32), size=shape)


def key_region(
    tiles: np.ndarray, classes: np.ndarray, starts: Sequence[int], size: Sequence[int]
) -> np.ndarray:
    """The key over the box at ``starts`` (absolute voxel indices): each voxel's class tile."""
    grids = [
        (np.arange(start, start + length) % period)
        for start, length, period in zip(starts, size, tiles.shape[1:], strict=True)
    ]
    per_class = tiles[(slice(None), *np.ix_(*grids))]
    index = np.clip(classes.astype(np.int64), 0, len(tiles) - 1)[np.newaxis]
    return np.take_along_axis(per_class, index, axis=0)[0]


@dataclass
class PatchBatch:
    """Stacked crops, each (B, d, h, w); ``epsilon``/``step`` are (B,) normalised budgets."""

    image: np.ndarray
    classes: np.ndarray
    band: np.ndarray
    interior: np.ndarray
    texture: np.ndarray
    key: np.ndarray
    epsilon: np.ndarray
    step: np.ndarray


def sample_batch(
    cases: Sequence[PreparedCase],
    patch: Sequence[int],
    batch_size: int,
    tile: np.ndarray,
    rng: np.random.Generator,
    roi_fraction: float = 0.8,
) -> PatchBatch:
    """``batch_size`` crops of shape ``patch`` (d, h, w) from random cases."""
    crops = [
        _crop(cases[rng.integers(len(cases))], patch, tile, rng, roi_fraction)
        for _ in range(batch_size)
    ]
    return PatchBatch(*(np.stack(parts) for parts in zip(*crops, strict=True)))


def _crop(case: PreparedCase, patch: Sequence[int], tile, rng, roi_fraction: float) -> tuple:
    centre = _pick_centre(case, rng, roi_fraction)
    starts = [c - p // 2 for c, p in zip(centre, patch, strict=True)]
    arrays = [case.image, case.classes, case.band, case.interior, case.texture]
    cut = [_padded_crop(array, starts, patch) for array in arrays]
    key = key_region(tile, cut[1], starts, patch)
    budget = case.budget
    return (*cut, key, np.float32(budget.epsilon), np.float32(budget.step))


def _pick_centre(case: PreparedCase, rng: np.random.Generator, roi_fraction: float):
    allowed = case.allowed
    if rng.random() < roi_fraction and allowed.any():
        candidates = np.argwhere(allowed)
        return tuple(candidates[rng.integers(len(candidates))])
    return tuple(int(rng.integers(n)) for n in allowed.shape)


def _padded_crop(array: np.ndarray, starts: Sequence[int], size: Sequence[int]) -> np.ndarray:
    out = np.zeros(tuple(size), dtype=array.dtype)
    src, dst = [], []
    for start, length, limit in zip(starts, size, array.shape, strict=True):
        lo, hi = max(start, 0), min(start + length, limit)
        src.append(slice(lo, max(hi, lo)))
        dst.append(slice(lo - start, lo - start + max(hi - lo, 0)))
    out[tuple(dst)] = array[tuple(src)]
    return out
