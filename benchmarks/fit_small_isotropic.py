"""Fit time of UMed on small near-isotropic volumes (3D mode), end to end through the CLI.

Builds two 32x32x8 int16 MR-like volumes at 1 mm with a cube label each (seeded noise) in a
temporary datastore, then times ``medue fit DATASET GENERATOR --iterations N --no-progress``.
Prints the wall time; docs/BENCHMARKS.md section 5b quotes it.

    python benchmarks/fit_small_isotropic.py --iterations 10
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel
import numpy as np


def build(folder: Path) -> Path:
    (folder / "labels/final").mkdir(parents=True)
    for index in range(2):
        image = np.random.default_rng(index).normal(300, 20, (32, 32, 8)).astype(np.int16)
        label = np.zeros((32, 32, 8), np.uint8)
        label[10:20, 10:20, 2:6] = 1
        nibabel.save(nibabel.Nifti1Image(image, np.eye(4)), folder / f"mr{index}.nii.gz")
        nibabel.save(
            nibabel.Nifti1Image(label, np.eye(4)), folder / f"labels/final/mr{index}.nii.gz"
        )
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = build(Path(tmp) / "ds")
        command = [sys.executable, "-m", "medue.cli", "fit", str(data), str(Path(tmp) / "g.pt"),
                   "--iterations", str(args.iterations), "--no-progress"]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"{args.iterations} iterations: {time.perf_counter() - started:.1f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
