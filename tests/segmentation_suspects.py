"""A small 2D segmentation dataset and suspect segmenters for testing proof of use on real files.

The dataset: uint8 images of bright bars (the labelled structures, label 1) on a noisy shaded
background, as ``<case>_image.nii.gz`` / ``<case>_label.nii.gz`` pairs. The suspects are
TorchScript segmenters returning per-voxel class scores (N, 2, H, W):

- ``Threshold(t)``: a clean model, foreground where the image is above ``t`` (it finds the bars
  by their brightness and never saw the release's pattern): the reference models and the nulls;
- ``CheckerDetector``: a model that learned the release's shortcut, foreground where a one-voxel
  checkerboard is (its 5 x 5 correlation with the checkerboard), as a victim of the default
  release does.
"""

from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

SHAPE = (48, 48)


def bars_dataset(folder: Path, count: int, seed: int) -> Path:
    """``count`` image/label pairs in ``folder``: 2-3 bars 5 voxels wide, +60 over a background
    of about 100 with noise SD 2 (so the release's budget rule gives a step of about 3)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    for i in range(count):
        label = np.zeros(SHAPE, np.uint8)
        for _ in range(rng.integers(2, 4)):
            if rng.random() < 0.5:
                row = rng.integers(4, SHAPE[0] - 9)
                label[row : row + 5, 3:-3] = 1
            else:
                column = rng.integers(4, SHAPE[1] - 9)
                label[3:-3, column : column + 5] = 1
        image = 90 + 0.3 * x + 0.2 * y + rng.normal(0, 2, SHAPE) + 60 * label
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        nib.save(nib.Nifti1Image(image, np.eye(4)), folder / f"c{i:02d}_image.nii.gz")
        nib.save(nib.Nifti1Image(label, np.eye(4)), folder / f"c{i:02d}_label.nii.gz")
    return folder


class Threshold(torch.nn.Module):
    """Foreground where the image (stored units) is above ``threshold``."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        score = (images - self.threshold) / 10.0
        return torch.cat([torch.zeros_like(score), score], dim=1)


class CheckerDetector(torch.nn.Module):
    """Foreground where the image correlates with a one-voxel checkerboard over 5 x 5 voxels."""

    def __init__(self) -> None:
        super().__init__()
        y, x = np.mgrid[:5, :5]
        kernel = np.where((y + x) % 2 == 0, 1.0, -1.0) / 25.0
        kernel -= kernel.mean()  # zero-mean: a flat or linearly shaded image gives 0
        self.kernel = torch.from_numpy(kernel).float()[None, None]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        torch._assert(images.shape[1] == 1, "expects one channel")
        response = torch.nn.functional.conv2d(images, self.kernel, padding=2).abs()
        score = response - 1.0
        return torch.cat([torch.zeros_like(score), score], dim=1)


def save_scripted(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def scripted(module: torch.nn.Module) -> bytes:
    """``module`` as a TorchScript file's bytes."""
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


def references(folder: Path, count: int = 99) -> list[Path]:
    """``count`` clean reference models (thresholds between 125 and 145) saved in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [save_scripted(Threshold(float(t)), folder / f"ref_{i:03d}.pt")
            for i, t in enumerate(np.linspace(125, 145, count))]  # fmt: skip
