"""UMed on two near-isotropic head-CT slabs, end to end through ``medue protect`` (issue: UMed on
real volumes, fit <= 10 min on this 2-core CPU).

Builds two seeded, CT-like int16 volumes of 256x256xN voxels at 0.96x0.96x1.5 mm (slice spacing
1.56x the in-plane one, so ``--mode auto`` picks 3D): air at -1000 HU, a skull-like elliptic ring
at ~1000 HU, brain at ~40 HU with noise SD 15 HU, a lesion-like blob (~60 HU, about 3 cm across)
labelled 1 in ``labels/final/`` (MONAI Label datastore layout; ``--label brain`` labels the whole
brain instead, for the release's cost over a large ROI), in a temporary folder. Then runs

    python -m medue.cli protect DATA OUT --method umed --epsilon 10 --no-progress [--iterations K]

with one torch thread (OMP_NUM_THREADS=1) and prints the total wall time, the fit time and the
number of fit steps and stopping reason the manifest records (``method.history``), the time
per fit step and the time each case took to protect. With ``--iterations K`` (a few steps) it
measures the per-step cost of a fit too long to wait for.

    OMP_NUM_THREADS=1 PYTHONPATH=plugin python benchmarks/fit_ct_slabs.py
    OMP_NUM_THREADS=1 PYTHONPATH=plugin python benchmarks/fit_ct_slabs.py --iterations 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel
import numpy as np

SPACING = (0.96, 0.96, 1.5)  # mm, (x, y, z)


def head_slab(
    seed: int, size: int = 256, slices: int = 28, label: str = "lesion"
) -> tuple[np.ndarray, np.ndarray]:
    """One CT-like slab (x, y, z) in HU (int16) and its label (uint8): the lesion, or with
    ``label="brain"`` the whole brain (lesion included; the largest ROI a head CT would have)."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(
        (np.arange(size) - size / 2) * SPACING[0],
        (np.arange(size) - size / 2) * SPACING[1],
        (np.arange(slices) - slices / 2) * SPACING[2],
        indexing="ij",
    )
    head = (x / 90.0) ** 2 + (y / 110.0) ** 2  # elliptic head, 18 x 22 cm, in mm
    image = np.full(x.shape, -1000.0)
    image[head < 1.0] = 1000.0  # skull
    brain = (x / 83.0) ** 2 + (y / 103.0) ** 2 < 1.0  # about 7 mm of bone
    image[brain] = 40.0
    centre = rng.uniform(-30, 30, 2)
    blob = ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z * 1.2) ** 2) < 15.0**2
    image[blob & brain] = 60.0
    image += rng.normal(0, 15.0, image.shape) * (head < 1.0)  # quantum noise inside the head
    mask = brain if label == "brain" else blob & brain
    return np.round(image).astype(np.int16), mask.astype(np.uint8)


def build(folder: Path, slices: int, label: str = "lesion") -> Path:
    """Two slabs in a MONAI Label datastore: ``ctN.nii.gz`` and ``labels/final/ctN.nii.gz``."""
    (folder / "labels/final").mkdir(parents=True)
    affine = np.diag([*SPACING, 1.0])
    for index in range(2):
        image, mask = head_slab(index, slices=slices, label=label)
        nibabel.save(nibabel.Nifti1Image(image, affine), folder / f"ct{index}.nii.gz")
        nibabel.save(nibabel.Nifti1Image(mask, affine), folder / f"labels/final/ct{index}.nii.gz")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, help="maximum fit steps (default: UMed's)")
    parser.add_argument("--slices", type=int, default=28, help="slices per slab (default 28)")
    parser.add_argument("--label", choices=("lesion", "brain"), default="lesion",
                        help="what the label marks (default: a ~3 cm lesion)")  # fmt: skip
    parser.add_argument("--keep", type=Path, help="write data and release here instead of /tmp")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        data, out = build(root / "ds", args.slices, args.label), root / "out"
        command = [sys.executable, "-m", "medue.cli", "protect", str(data), str(out),
                   "--method", "umed", "--epsilon", "10", "--no-progress"]  # fmt: skip
        if args.iterations:
            command += ["--iterations", str(args.iterations)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        wall = time.perf_counter() - started
        manifest = json.loads((out / "medue/manifest.json").read_text())
    config, history = manifest["method"]["config"], manifest["method"]["history"]
    steps = history.get("steps", config["iterations"])
    print(f"mode {config['mode']}, patch {config['patch']}, batch {config['batch_size']}, "
          f"max {config['iterations']} steps")  # fmt: skip
    print(f"fit: {history['seconds']:.1f} s, {steps} steps "
          f"({history['seconds'] / max(steps, 1):.2f} s/step), "
          f"stopped: {history.get('stopped', 'n/a')}")  # fmt: skip
    times = ", ".join(f"{case['image_id']} {case['seconds']:.1f} s" for case in manifest["cases"])
    print(f"protect (prepare, perturb, write, verify) per case: {times}")
    print(f"total: {wall:.1f} s wall (load {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
