"""Reference perturbations every benchmark sets UMed beside, at the same budget, and their regions.

- ``random``: uniform noise in [-eps, eps] over the ROI and its contour band (seeded per image).
- ``random-image``: the same noise over the whole image. The ROI-only variant asks whether the
  region matters; this one is the classic "is it just noise?" control of the literature.
- ``checkerboard``: a fixed +-eps checkerboard over the ROI region. A trivial marker: it collapses
  an undefended victim at high PSNR (../shared/methods.md), so the learned method has to beat it
  where the marker fails (smaller budgets, the attacker's filters).
- ``blocks``: the same marker in 4x4-voxel blocks (period 8). A 3x3 median, a Gaussian or a 2x
  down-up erase a one-voxel checkerboard but keep part of this one; it is the benchmark's
  reference for "energy in the frequency bands that survive smoothing" (docs/BENCHMARKS.md §4c).
None needs fitting; each is saved as a small JSON file so the CLI treats it like a generator.

The region a method may touch is part of the method, not of the case: a method named ``*-image``
perturbs every voxel, any other method only ``case.allowed`` (band | interior). ``region_mask``
is the one place that turns that name into voxels, for these baselines and for EMN alike.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.methods.base import save_description
from medue.prepare import PreparedCase

BASELINES = ("random", "random-image", "checkerboard", "blocks")
BLOCK = {"checkerboard": 1, "blocks": 4}  # voxels per checkerboard square
WHOLE_IMAGE_SUFFIX = "-image"
REGIONS = ("roi", "image")


def region_of(method: str) -> str:
    """``"image"`` for the whole-image variants (``*-image``), ``"roi"`` for everything else."""
    return "image" if method.endswith(WHOLE_IMAGE_SUFFIX) else "roi"


def region_mask(case: PreparedCase, region: str) -> np.ndarray:
    """The voxels a method with this region may change: ``case.allowed``, or all of them."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r} (choose one of: {', '.join(REGIONS)})")
    return np.ones_like(case.allowed) if region == "image" else case.allowed


@dataclass
class BaselinePerturber:
    method: str
    seed: int = 0
    class_values: tuple[int, ...] = ()

    @property
    def region(self) -> str:
        return region_of(self.method)

    def perturb(self, case: PreparedCase) -> np.ndarray:
        """``eps * pattern`` on the method's region, zero elsewhere (float32, (z, y, x))."""
        eps = case.budget.epsilon
        if self.method.removesuffix(WHOLE_IMAGE_SUFFIX) == "random":
            rng = np.random.default_rng([self.seed, zlib.crc32(case.image_id.encode())])
            pattern = rng.uniform(-1.0, 1.0, size=case.image.shape)
        else:
            z, y, x = np.indices(case.image.shape, sparse=True)
            block = BLOCK[self.method]
            pattern = np.where((y // block + x // block) % 2 == 0, 1.0, -1.0) * np.ones_like(z)
        return (eps * pattern * region_mask(case, self.region)).astype(np.float32)

    def describe(self) -> dict:
        return {"method": self.method, "region": self.region, "seed": self.seed}

    def save(self, path: str | Path) -> Path:
        return save_description(self, path)


def load_baseline(path: str | Path) -> BaselinePerturber:
    data = json.loads(Path(path).read_text())
    if data["method"] not in BASELINES:
        raise ValueError(f"unknown baseline {data['method']!r}")
    return BaselinePerturber(method=data["method"], seed=int(data.get("seed", 0)))
