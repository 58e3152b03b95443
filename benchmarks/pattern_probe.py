#!/usr/bin/env python3
"""Probe: which fixed, label-encoding pattern can a victim learn on MNI152 at 1-2 grey levels?

Usage: ``python benchmarks/pattern_probe.py [--seed 0] [--epochs 10] [KIND:EPS ...]``

Why: UMed's min-min found no shortcut on this benchmark (docs/BENCHMARKS.md §1). Before
training generators further, this asks the simpler question — does ANY pattern that carries the
label (grey vs white matter), rounded to uint8 like a written file, teach the victim the wrong
thing at this budget? Patterns (applied to grey/white-matter voxels only):

- ``phase_cb``: a voxel checkerboard (Nyquist frequency) with opposite phase in GM and WM;
- ``nyq3roi``: GM a checkerboard, WM horizontal stripes (both Nyquist);
- ``tiles``: a seeded 8x8 random +-1 tile per class;
- ``phase_lowf``: period-8 blocks, opposite phase in GM and WM;
- ``shift``: GM +eps, WM -eps (a uniform class-wise offset).
PSNR is per slice over 255 on the rounded uint8 images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from medue.evaluate import SliceSet, VictimConfig, load_slices, train_victim

DATA = Path(__file__).resolve().parent / "results" / "mni152"
KINDS = ("phase_cb", "nyq3roi", "tiles", "phase_lowf", "shift")


def pattern(kind: str, labels: np.ndarray) -> np.ndarray:
    """+-1 (or 0) per voxel for (N, H, W) labels: 0 background, 1 GM, 2 WM."""
    _, height, width = labels.shape
    y, x = np.indices((height, width))
    checker = np.where((y + x) % 2 == 0, 1.0, -1.0)
    sign = np.select([labels == 1, labels == 2], [1.0, -1.0], 0.0)
    if kind == "phase_cb":
        return checker[None] * sign
    if kind == "nyq3roi":
        stripes = np.where(y % 2 == 0, 1.0, -1.0)
        return np.select([labels == 1, labels == 2], [checker[None], stripes[None]], 0.0)
    if kind == "tiles":
        tiles = np.random.default_rng(0).choice([-1.0, 1.0], size=(3, 8, 8))
        repeats = (height // 8 + 1, width // 8 + 1)
        full = np.stack([np.tile(t, repeats)[:height, :width] for t in tiles])
        return np.take_along_axis(full[None], labels[:, None], 1)[:, 0] * (labels > 0)
    if kind == "phase_lowf":
        blocks = np.sign(np.sin(2 * np.pi * y / 8) * np.sin(2 * np.pi * x / 8) + 1e-9)
        return blocks[None] * sign
    if kind == "shift":
        return sign
    raise ValueError(f"unknown pattern {kind!r} (known: {', '.join(KINDS)})")


def release(train: SliceSet, kind: str, eps: float) -> tuple[SliceSet, np.ndarray]:
    """The training slices as an attacker would read them: uint8 after adding the pattern."""
    stored = np.clip(np.round(train.images * 255 + eps * pattern(kind, train.labels)), 0, 255)
    mse = ((stored - train.images * 255) ** 2).mean(axis=(1, 2))
    psnr = 10 * np.log10(255**2 / np.maximum(mse, 1e-12))
    return SliceSet((stored / 255).astype(np.float32), train.labels, train.ids), psnr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probes", nargs="*", default=[f"{k}:2" for k in KINDS] + ["phase_cb:1"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    train, test = load_slices(DATA / "train"), load_slices(DATA / "test")
    print("| pattern | eps | PSNR mean / min (dB) | victim DSC best | final | DSC per epoch |")
    print("|---|---|---|---|---|---|")
    for probe in args.probes:
        kind, eps = probe.split(":")
        data, psnr = release(train, kind, float(eps))
        result = train_victim(data, test, VictimConfig(epochs=args.epochs, seed=args.seed,
                                                       num_classes=3))  # fmt: skip
        curve = json.dumps([round(v, 2) for v in result.dsc_per_epoch])
        print(f"| {kind} | {eps} | {psnr.mean():.1f} / {psnr.min():.1f} | {result.best_dsc:.3f}"
              f" | {result.final_dsc:.3f} | {curve} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
