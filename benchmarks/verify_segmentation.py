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
3. ``--only verify``: the references calibrate ``medue verify`` for the owner's release ``d0``
   (``medue verify references``'s function, 16 probes from ``DATA/test``, never released), then
   every suspect model is verified white-box (``medue verify``'s function) and each
   release-only model black-box (the probe files written, the model run on them as read from
   disk, its label maps scored as ``medue verify score`` does); each reference model is also
   ranked among the others (leave-one-out: the null p-values the calibration itself implies).
   Writes ``WORK/verify.json``, ``WORK/black_box.json`` and ``WORK/qq.png``, prints the tables.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from verify import _copy, log, qq_plot, rate_table, variant

from medue.errors import InputError
from medue.evaluate import VictimConfig, load_slices
from medue.evaluate.patch_victim import StepSchedule, train_patch_victim
from medue.evaluate.slices import SliceSet, pad_centred
from medue.io import read_volume, write_volume
from medue.verify.blackbox_segmentation import score_label_maps, write_segmentation_probes
from medue.verify.record import read_segmentation_record
from medue.verify.references import (
    Calibration,
    calibrate,
    rank_against_references,
    read_calibration,
)
from medue.verify.segmentation import model_responses
from medue.verify.suspect import Intensity, load_suspect, scores

STEPS = 1500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sources", nargs="+", default=["clean", "d0"])
    parser.add_argument("--archs", nargs="+", default=["unet"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--reference", action="store_true", help="clean reference models")
    parser.add_argument("--probes", type=int, default=16, help="probe images (verify step)")
    parser.add_argument("--countermeasure", default="none", help="the attacker's, on the source")
    parser.add_argument("--init", type=Path, help="fine-tune from this state dict (same network)")
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
    name = f"{source}{variant(args)}_{arch}_s{seed}"
    meta = folder / f"{name}.json"
    if meta.exists():
        return
    test = load_slices(args.data / "test")
    masks = [
        np.asarray(read_volume(args.data / "test_fov" / f"{i}.nii.gz").array) for i in test.ids
    ]
    fov = np.stack([pad_centred(m.squeeze(), *test.images.shape[1:]) for m in masks]).astype(int)
    config = VictimConfig(
        architecture=arch,
        epochs=1,
        seed=seed,
        num_classes=2,
        validation_fraction=0.2,
        countermeasure=args.countermeasure,
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
        initial_state=torch.load(args.init, weights_only=True) if args.init else None,
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
        "name": name,
        "source": source,
        "countermeasure": args.countermeasure,
        "init": str(args.init or ""),
        "arch": arch,
        "seed": seed,
        "steps": picks,
        "dsc": dsc,
        "seconds": time.time() - started,
    }
    meta.write_text(json.dumps(info))
    log(f"{name}: {dsc} ({time.time() - started:.0f} s)")


def verify_all(args: argparse.Namespace) -> None:
    record = read_segmentation_record(args.work / "releases" / "d0.private")
    calibration = _calibration(args, record)
    rows = []
    for meta in sorted((args.work / "models").glob("*.json")):
        info = json.loads(meta.read_text())
        for which in ("release_only", "early", "last"):
            path = meta.with_suffix(f".{which}.pt")
            model = load_suspect(path, info["arch"], Intensity())
            result = rank_against_references(
                model_responses(model, calibration.probes, str(path)), calibration
            )
            rows.append(_row(info, which, result, info["dsc"][which]))
    for i in range(calibration.count):  # leave-one-out among the references
        others = Calibration(
            calibration.probes,
            np.delete(calibration.responses, i, axis=0),
            calibration.models[:i] + calibration.models[i + 1 :],
        )
        result = rank_against_references(calibration.responses[i], others)
        rows.append(
            {
                "model": calibration.models[i]["file"],
                "group": "null: reference, left out",
                "attacker": "last",
                "p": result.p_value,
                "effect": _effect(result),
            }
        )
    (args.work / "verify.json").write_text(json.dumps(rows, indent=1))
    black = black_box(args, record, calibration)
    for title, table in (("white-box", rows), ("black-box", black)):
        print(f"\n{title}")
        rate_table(table, "response", "median response (share of the pasted pattern)")
    nulls = np.sort([r["p"] for r in rows if r["group"].startswith("null")])
    qq_plot({"null models and left-out references": nulls}, args.work / "qq.png")
    log(f"QQ plot {args.work / 'qq.png'}")


def _calibration(args: argparse.Namespace, record) -> Calibration:
    models = sorted((args.work / "references").glob("*.last.pt"))
    try:
        saved = read_calibration(record)
        if [m["file"] for m in saved.models] == [m.name for m in models]:
            return saved
    except InputError:
        pass
    log(f"calibrating with {len(models)} reference models")
    return calibrate(record, args.data / "test", models, "unet", Intensity(), args.probes)


def black_box(args: argparse.Namespace, record, calibration: Calibration) -> list[dict]:
    """Each release-only model through probe files, as ``medue verify probes`` / ``score``."""
    folder = args.work / "probes"
    shutil.rmtree(folder, ignore_errors=True)
    write_segmentation_probes(record, calibration, folder, seed=0)
    rows = []
    for meta in sorted((args.work / "models").glob("*.json")):
        info = json.loads(meta.read_text())
        path = meta.with_suffix(".release_only.pt")
        model = load_suspect(path, info["arch"], Intensity())
        maps = args.work / "maps" / meta.stem
        shutil.rmtree(maps, ignore_errors=True)
        maps.mkdir(parents=True)
        for file in sorted(folder.glob("probe_*")):
            volume = read_volume(file)
            image = np.asarray(volume.array, np.float64).reshape(volume.array.shape[-2:])
            label = scores(model, image[None], file).argmax(axis=1)[0].astype(np.uint8)
            write_volume(volume.with_array(label.reshape(volume.array.shape)), maps / file.name)
        result = score_label_maps(record, calibration, maps)
        rows.append(
            {
                **_row(info, "release_only", result, info["dsc"]["release_only"]),
                "queries": len(list(folder.glob("probe_*"))),
            }
        )
    (args.work / "black_box.json").write_text(json.dumps(rows, indent=1))
    return rows


def _row(info: dict, which: str, result, dsc: float) -> dict:
    source = info["source"]
    release, _, percent = source.partition("@")
    group = {"clean": "null: clean model", "d1": "another release of the same method"}.get(
        source, f"trained on {percent} % of the release" if percent else "trained"
    )
    group = info.get("group", group)  # models brought in from elsewhere name their group
    if info.get("countermeasure", "none") != "none":
        group += f", after a {info['countermeasure']} filter"
    if info.get("init"):
        group += ", fine-tuned from a clean model"
    return {
        "model": info.get("name", source),
        "source": source,
        "arch": info["arch"],
        "seed": info["seed"],
        "attacker": which,
        "group": group,
        "p": result.p_value,
        "effect": _effect(result),
        "dsc": dsc,
        "response": result.tests["foreground"].key_response,
    }


def _effect(result) -> float | None:
    effect = result.tests["foreground"].effect
    return float(effect) if np.isfinite(effect) else None


if __name__ == "__main__":
    sys.exit(main())
