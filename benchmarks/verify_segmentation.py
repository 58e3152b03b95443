#!/usr/bin/env python3
"""Proof of use on DRIVE: is `medue verify` right about segmenters trained on the default release?

Usage (``DATA`` holds ``train/``, ``test/`` and ``test_fov/``: ``benchmarks/drive_data.py``)::

    P="env PYTHONPATH=plugin OMP_NUM_THREADS=1 python"
    $P benchmarks/verify_segmentation.py /tmp/drive --work /tmp/vseg --only releases
    $P benchmarks/verify_segmentation.py /tmp/drive --work /tmp/vseg --only train \\
        --sources clean --archs unet --seeds 100 101 ... --reference
    $P benchmarks/verify_segmentation.py /tmp/drive --work /tmp/vseg --only train \\
        --sources d0 d1 clean --archs unet segresnet attentionunet --seeds 0 1 2
    $P benchmarks/verify_segmentation.py /tmp/drive --work /tmp/vseg --only verify

1. Two default releases of ``DATA/train`` with the real CLI (``medue protect TRAIN OUT``, no
   options: the checkerboard on the vessels), each with its own fresh key: ``WORK/releases/d0``
   (the owner's) and ``d1`` (somebody else's release of the same images).
2. Patch victims (``medue.evaluate.patch_victim``: 1,500 steps of 64x64 patches, 20 % of the
   training folder held out for the attacker with only the release) on a source: ``clean``,
   ``d0``, ``d1`` or ``d0@50`` (that share of the images from the release, the rest clean).
   A suspect run keeps three models (the release-only attacker's, the early stopper's, the last);
   a ``--reference`` run (the owner's clean reference models) keeps its last model only and is
   scored once. State dicts in ``WORK/models`` (references in ``WORK/references``).
3. ``--only verify``: the references calibrate ``medue verify`` for the release (``medue verify
   references``), then every suspect model is verified white-box and black-box.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from medue.evaluate import VictimConfig, load_slices
from medue.evaluate.patch_victim import StepSchedule, train_patch_victim
from medue.evaluate.slices import SliceSet, pad_centred
from medue.io import read_volume

STEPS = 1500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sources", nargs="+", default=["clean", "d0"])
    parser.add_argument("--archs", nargs="+", default=["unet"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--reference", action="store_true", help="clean reference models")
    parser.add_argument("--only", choices=["releases", "train", "verify"], help="one step only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.only in (None, "releases"):
        for name in ("d0", "d1"):
            make_release(args, name)
    if args.only in (None, "train"):
        for source in args.sources:
            for arch in args.archs:
                for seed in args.seeds:
                    train_models(args, source, arch, seed)
    if args.only in (None, "verify"):
        from verify_segmentation_score import verify_all  # noqa: PLC0415

        verify_all(args)
    return 0


def make_release(args: argparse.Namespace, name: str) -> Path:
    target = args.work / "releases" / name
    if not (Path(f"{target}.private") / "manifest.json").exists():
        command = [
            sys.executable,
            "-m",
            "medue.cli",
            "protect",
            str(args.data / "train"),
            str(target),
            "--no-progress",
        ]
        log(" ".join(command[2:]))
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return target


def training_set(args: argparse.Namespace, source: str) -> SliceSet:
    """The slices of ``source``: clean, a release, or ``d<i>@<percent>`` (a fixed random share of
    the images from the release, the clean originals for the rest)."""
    clean = load_slices(args.data / "train")
    if source == "clean":
        return clean
    release, _, percent = source.partition("@")
    marked = load_slices(args.work / "releases" / release)
    if marked.ids != clean.ids:
        raise SystemExit(f"{release} does not hold the clean training images one for one")
    if not percent:
        return marked
    chosen = np.random.default_rng(0).random(len(clean.ids)) < int(percent) / 100
    images = np.where(chosen[:, None, None], marked.images, clean.images)
    return SliceSet(images=images, labels=clean.labels, ids=clean.ids)


def train_models(args: argparse.Namespace, source: str, arch: str, seed: int) -> None:
    folder = args.work / ("references" if args.reference else "models")
    name = f"{source}_{arch}_s{seed}"
    meta = folder / f"{name}.json"
    if meta.exists():
        return
    test = load_slices(args.data / "test")
    masks = [
        np.asarray(read_volume(args.data / "test_fov" / f"{i}.nii.gz").array) for i in test.ids
    ]
    fov = np.stack([pad_centred(m.squeeze(), *test.images.shape[1:]) for m in masks]).astype(int)
    config = VictimConfig(
        architecture=arch, epochs=1, seed=seed, num_classes=2, validation_fraction=0.2
    )
    every = STEPS if args.reference else 100
    schedule = StepSchedule(steps=STEPS, eval_every=every)
    snapshots: dict[int, dict] = {}
    started = time.time()
    run = train_patch_victim(
        training_set(args, source),
        test,
        config,
        schedule,
        fov,
        on_evaluation=lambda step, m: snapshots.__setitem__(step, _copy(m)),
    )
    steps = run.eval_steps
    picks = {"last": STEPS}
    dsc = {"last": run.final_dsc}
    if not args.reference:
        picks |= {
            "release_only": steps[run.release_only_epoch - 1],
            "early": steps[run.best_epoch - 1],
        }
        dsc |= {"release_only": run.release_only_dsc, "early": run.best_dsc}
    folder.mkdir(parents=True, exist_ok=True)
    for which, step in picks.items():
        torch.save(snapshots[step], folder / f"{name}.{which}.pt")
    info = {
        "source": source,
        "arch": arch,
        "seed": seed,
        "steps": picks,
        "dsc": dsc,
        "seconds": time.time() - started,
    }
    meta.write_text(json.dumps(info))
    log(f"{name}: {dsc} ({time.time() - started:.0f} s)")


def _copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
