"""Reference perturbations every benchmark sets UMed beside, at the same budget and region.

- ``random``: uniform noise in [-eps, eps] over the ROI and its contour band (seeded per image).
- ``checkerboard``: a fixed +-eps checkerboard over the same region. A trivial marker: it collapses
  an undefended victim at high PSNR (../shared/methods.md), so the learned method has to beat it
  where the marker fails (smaller budgets, the attacker's filters).
Neither needs fitting; both are saved as a small JSON file so the CLI treats them like a generator.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.io.atomic import atomic_path
from medue.prepare import PreparedCase

BASELINES = ("random", "checkerboard")


@dataclass
class BaselinePerturber:
    method: str
    seed: int = 0
    class_values: tuple[int, ...] = ()

    def perturb(self, case: PreparedCase) -> np.ndarray:
        eps = case.budget.epsilon
        if self.method == "random":
            rng = np.random.default_rng([self.seed, zlib.crc32(case.image_id.encode())])
            pattern = rng.uniform(-1.0, 1.0, size=case.image.shape)
        else:
            z, y, x = np.indices(case.image.shape, sparse=True)
            pattern = np.where((y + x) % 2 == 0, 1.0, -1.0) * np.ones_like(z)
        return (eps * pattern * case.allowed).astype(np.float32)

    def describe(self) -> dict:
        return {"method": self.method, "seed": self.seed}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.describe()))
        return path


def load_baseline(path: str | Path) -> BaselinePerturber:
    data = json.loads(Path(path).read_text())
    return BaselinePerturber(method=data["method"], seed=int(data.get("seed", 0)))
