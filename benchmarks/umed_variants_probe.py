#!/usr/bin/env python3
"""Probe (issue 3): why does the fixed checkerboard marker move the lesion victim and UMed not?

Usage: ``python benchmarks/umed_variants_probe.py notex|cbkey|reset [--results benchmarks/results]``
(after ``run_benchmarks.py``, whose lesion data and clean victim runs it reuses).

Two UMed variants, patched in for this run only (nothing here changes the shipped method):

* ``notex``: the texture bound off, so the interior may use the full budget as the marker does;
* ``cbkey``: ``notex`` plus a voxel checkerboard as the class key (antiphase per class), so the
  generators start from the marker's pattern instead of random 8x8 tiles;
* ``reset``: UMed as shipped, but the surrogate is re-initialised every ``RESET_EVERY`` steps, so
  the generators keep facing a network early in training, as the victim is when it picks its
  shortcut, instead of one that has already learned the anatomy.

Each is fitted on the lesion training data at ``balanced`` and judged like every release: UNet,
seeds 0, 1, 2, 60 epochs, clean test slices. Output in ``<results>/probe-<variant>/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

import medue.methods.umed as umed
from medue.budget import BudgetRequest
from medue.datasets import discover_cases
from medue.evaluate.experiment import EvaluationSettings, evaluate_release
from medue.evaluate.runs import ResultStore
from medue.job import ProtectSettings, protect_dataset
from medue.methods.patches import KEY_TILE

HERE = Path(__file__).resolve().parent
PLAIN_COMPOSE = umed.compose
PLAIN_STEP = umed._MinMinTrainer.step
RESET_EVERY = 25


def compose_without_texture_bound(raw_c, raw_t, inputs: dict, config):
    return PLAIN_COMPOSE(
        raw_c, raw_t, {**inputs, "texture": torch.ones_like(inputs["texture"])}, config
    )


def checkerboard_key(seed: int, spatial_dims: int, num_classes: int) -> np.ndarray:
    """(classes, depth, KEY_TILE, KEY_TILE): a +-1 voxel checkerboard, phase flipped per class."""
    depth = 1 if spatial_dims == 2 else KEY_TILE
    yy, xx = np.indices((KEY_TILE, KEY_TILE))
    board = np.where((yy + xx) % 2 == 0, 1.0, -1.0).astype(np.float32)
    return np.stack(
        [
            np.broadcast_to(board * (1 if c % 2 else -1), (depth, *board.shape))
            for c in range(num_classes)
        ]
    ).copy()


def step_with_surrogate_resets(trainer, inputs: dict) -> None:
    """Re-initialise the surrogate (weights and Adam state) every RESET_EVERY steps."""
    steps = getattr(trainer, "probe_steps", 0)
    if steps and steps % RESET_EVERY == 0:
        for module in trainer.surrogate.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        lr = trainer.opt_surrogate.param_groups[0]["lr"]
        trainer.opt_surrogate = torch.optim.Adam(trainer.surrogate.parameters(), lr=lr)
    trainer.probe_steps = steps + 1
    PLAIN_STEP(trainer, inputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=("notex", "cbkey", "reset"))
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.variant in ("notex", "cbkey"):
        umed.compose = compose_without_texture_bound
    if args.variant == "cbkey":
        umed.key_tile = checkerboard_key
    if args.variant == "reset":
        umed._MinMinTrainer.step = step_with_surrogate_resets
    data = args.results / "lesion"
    out = args.results / f"probe-{args.variant}"
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "runs.json").exists():  # reuse the clean victims; never write the shared store
        shutil.copy(data / "runs.json", out / "runs.json")
    release = out / "release"
    if not (Path(f"{release}.private") / "manifest.json").exists():
        protect_dataset(
            data / "train",
            discover_cases(data / "train"),
            release,
            ProtectSettings(method="umed", budget=BudgetRequest(preset="balanced")),
        )
    settings = EvaluationSettings(victims=("unet",), seeds=(0, 1, 2), epochs=60)
    result = evaluate_release(
        data / "train",
        release,
        out / "evaluation",
        settings,
        test_folder=data / "test",
        store=ResultStore(out / "runs.json"),
    )
    imp = result["imperceptibility"]
    for row in result["rows"]:
        print(
            f"{args.variant}: clean {row['clean_best'][0]:.3f}, protected "
            f"{row['protected_best'][0]:.3f} ± {row['protected_best'][1]:.3f} "
            f"({row['ratio']:.0%}), PSNR {imp['psnr_db_mean']:.1f} / {imp['psnr_db_min']:.1f} dB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
