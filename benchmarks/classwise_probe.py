#!/usr/bin/env python3
"""Probe (issue 3): does a fixed, image-independent class pattern protect where UMed does not?

Usage: ``python benchmarks/classwise_probe.py lesion|mni152 [KIND ...] [--seeds 0 1 2]``
(after ``run_benchmarks.py``, whose data folders it reads).

On the lesion data the fixed checkerboard marker reaches 81 % of the clean victim and UMed, whose
output follows each image, 100 % (docs/BENCHMARKS.md §3, §4b). This asks whether *fixed* is the
difference, with patterns added to the training slices in the ROI + 2-voxel band at the
``balanced`` budget (3/255 of each case's window; on uint8 MNI152 2 grey levels, rounded):

- ``marker``: the shipped checkerboard baseline (the same phase on every voxel);
- ``marker2``, ``marker4``: the same checkerboard in 2x2 / 4x4 blocks (lower frequency, so a 3x3
  median cannot erase it);
- ``phase``: a checkerboard whose phase flips between classes (the label, voxel by voxel);
- ``learned``: one 8x8 tile per class, learned once by min-min against a surrogate (class-wise
  error-minimising noise, no generator), then fixed;
- ``learned-robust``: the same, with one of MedUE's robust-training countermeasures drawn per step.
Victim: UNet, clean test slices, best epoch, mean over seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from medue.evaluate import SliceSet, VictimConfig, load_slices, train_victim
from medue.networks.surrogate import build_surrogate, segmentation_loss
from medue.robust import ROBUST_TRAINING, RandomCountermeasure

HERE = Path(__file__).resolve().parent
DATASETS = {"lesion": (3 / 255, 0.0, 60, 2), "mni152": (2 / 255, 1 / 255, 10, 3)}
KINDS = ("marker", "marker2", "marker4", "phase", "learned", "learned-robust")
TILE = 8


def region(labels: np.ndarray) -> np.ndarray:
    """ROI + 2-voxel band, per slice."""
    return np.stack([ndimage.binary_dilation(lab > 0, iterations=2) for lab in labels])


def checker(shape: tuple[int, ...], block: int = 1) -> np.ndarray:
    _, height, width = shape
    y, x = np.indices((height, width)) // block
    return np.where((y + x) % 2 == 0, 1.0, -1.0)[None]


def tiled(tiles: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(C, T, T) tiles -> (N, H, W): each voxel gets its class tile at its absolute position."""
    _, height, width = labels.shape
    reps = (-(-height // TILE), -(-width // TILE))
    full = tiles.repeat(1, *reps)[:, :height, :width]
    return torch.gather(full.expand(len(labels), -1, -1, -1), 1, labels[:, None]).squeeze(1)


def learn_tiles(train: SliceSet, eps: float, classes: int, robust: bool, steps=300) -> np.ndarray:
    """Min-min: alternate a surrogate step and a tile step, both on the perturbed slices."""
    torch.manual_seed(0)
    images = torch.from_numpy(train.images)
    labels = torch.from_numpy(train.labels)
    mask = torch.from_numpy(region(train.labels)).float()
    raw = torch.nn.Parameter(torch.randn(classes, TILE, TILE))
    surrogate, loss_fn = build_surrogate(2, classes), segmentation_loss()
    opt_s = torch.optim.Adam(surrogate.parameters(), 1e-3)
    opt_p = torch.optim.Adam([raw], 1e-2)
    attacks, gen = RandomCountermeasure(ROBUST_TRAINING), torch.Generator().manual_seed(1)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(len(images), size=8))
        attack = attacks.sample(gen).apply if robust else (lambda t: t)
        x, y, m = images[idx][:, None], labels[idx], mask[idx][:, None]
        for opt in (opt_s, opt_p):  # surrogate step, then tile step; each clears its grads
            delta = eps * torch.tanh(tiled(raw, y))[:, None] * m
            opt.zero_grad()
            loss_fn(surrogate(attack(x + delta)), y[:, None]).backward()
            opt.step()
    return torch.tanh(raw).detach().numpy()


def release(train: SliceSet, kind: str, eps: float, step: float, classes: int) -> SliceSet:
    mask = region(train.labels)
    if kind.startswith("marker"):
        pattern = checker(train.images.shape, int(kind.removeprefix("marker") or 1)) * mask
    elif kind == "phase":
        pattern = checker(train.images.shape) * np.where(train.labels > 0, 1.0, -1.0) * mask
    else:
        tiles = learn_tiles(train, eps, classes, robust=kind == "learned-robust")
        pattern = tiled(torch.from_numpy(tiles), torch.from_numpy(train.labels)).numpy() * mask
    images = np.clip(train.images + eps * pattern, 0, 1)
    if step:
        images = np.round(images / step) * step
    return SliceSet(images.astype(np.float32), train.labels, train.ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("kinds", nargs="*", default=list(KINDS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--countermeasure", default="none", help="the attacker's, before training")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    eps, step, epochs, classes = DATASETS[args.dataset]
    data = HERE / "results" / args.dataset
    train, test = load_slices(data / "train"), load_slices(data / "test")
    for kind in ["clean", *args.kinds]:
        protected = train if kind == "clean" else release(train, kind, eps, step, classes)
        change = np.abs(protected.images - train.images).max() * 255
        best = [
            train_victim(
                protected,
                test,
                VictimConfig(
                    epochs=epochs, seed=s, num_classes=classes, countermeasure=args.countermeasure
                ),
            )
            for s in args.seeds
        ]
        dsc = np.array([r.best_dsc for r in best])
        print(f"{args.dataset} {kind} / {args.countermeasure}: best DSC {dsc.mean():.3f}"
              f" ± {dsc.std():.3f} {np.round(dsc, 3).tolist()} max change {change:.1f}/255",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
