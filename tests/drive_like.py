"""A small DRIVE-like dataset: uint8 2D fundus-like images with thin vessel-like label maps."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np


def drive_like(folder: Path, cases: int = 3, size: int = 48, seed: int = 0) -> Path:
    """``cases`` uint8 images ``size`` x ``size`` (NIfTI, one slice) in MONAI Label's layout
    (``<case>.nii.gz``, ``labels/final/<case>.nii.gz``): a smooth background with noise and
    dark branching lines, labelled 1 on the lines."""
    rng = np.random.default_rng(seed)
    (folder / "labels/final").mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[:size, :size]
    for index in range(cases):
        vessels = np.zeros((size, size), dtype=bool)
        for _ in range(4):
            a, b, c = rng.uniform(-1, 1), rng.uniform(0, size), rng.uniform(0.02, 0.08)
            line = np.abs(y - (a * x + b + 4 * np.sin(c * x))) < 1.2
            vessels |= line
        background = 120 + 40 * np.cos(x / size * 3) + rng.normal(0, 4, (size, size))
        image = np.clip(background - 50 * vessels, 0, 255).astype(np.uint8)
        affine = np.diag([1.0, 1.0, 1.0, 1.0])
        nib.save(nib.Nifti1Image(image[:, :, None], affine), folder / f"eye{index}.nii.gz")
        label = vessels.astype(np.uint8)[:, :, None]
        nib.save(nib.Nifti1Image(label, affine), folder / f"labels/final/eye{index}.nii.gz")
    return folder
