#!/usr/bin/env python3
"""SALM on the classification benchmarks: releases made with the real protect job, victims trained
on each release and on the originals, tested on the clean test split, for both attackers.

Usage (a task folder holding ``train/`` and ``test/``: ``benchmarks/classify_data.py``,
``benchmarks/pneumoniamnist_data.py``)::

    PYTHONPATH=plugin python benchmarks/salm_benchmark.py /tmp/cls/brain-level \\
        --releases salm:strong:0.1 salm-random:eps8:0.1 salm-emn-image:strong bench-orient:eps2 \\
        --victims resnet18 densenet121 --seeds 0 1 2 --epochs 20 --threads 1

A release is ``method:budget[:K]`` (K the share of voxels SALM changes; the whole-image baseline
ignores it). The budget is a product preset, ``psnrNN`` (defined here only, to draw the
frontier: epsilon set by the whole-image PSNR floor NN dB alone) or ``epsNN`` (``--epsilon NN``,
native units). ``bench-orient`` and ``bench-presence`` are class-wise fixed patterns built here
(``pattern_release``): ±epsilon stripes whose *orientation* is the class, or a pattern *present*
on every class but the first; unlike a pattern that encodes the class by its sign (phase), a flip
of the image does not undo either. ``bench-presence`` is now the product method
``pattern-presence`` (``medue.methods.presence``; at ``eps2`` the two write the same pixels), so
``pattern-presence:balanced`` is the product's default release of a classification dataset.
Each release lands in ``OUT/releases/<release>/`` (reused when it is complete), its victims in
``OUT/evaluations/<release>/`` (resumable; every victim holds out ``--validation-fraction`` of
its training images, per class, for the attacker with only the release), and the table of all of
them in ``OUT/salm.{md,json}``, with the visibility measured on the written files against the
originals (``visibility``); with several K for one method, ``OUT/k_sweep.png`` plots protected
accuracy against K.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from medue.budget import PRESETS, BudgetRequest, Preset
from medue.class_datasets import class_names, discover_classified
from medue.evaluate.classification import (
    ClassificationSettings,
    evaluate_classification,
    read_class_set,
)
from medue.evaluate.classifier_victim import train_victim
from medue.job import ProtectSettings, protect_dataset

HERE = Path(__file__).resolve().parent
PATTERNS = ("bench-orient", "bench-presence")
"""Class-wise fixed patterns made by this script (the product's ``pattern-presence`` is
``bench-presence`` made by the protect job, with its budget and records)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", type=Path, help="folder with train/ and test/ (labels.csv each)")
    parser.add_argument("--releases", nargs="+", default=["salm:strong:0.1"])
    parser.add_argument("--victims", nargs="+", default=["resnet18"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--countermeasures", nargs="+", default=["none"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--iterations", type=int, help="SALM rounds (default: the method's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--validation-fraction", type=float, default=0.2,
        help="share of each class's training images the attacker with only the release holds out",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/salm/<task>")
    parser.add_argument(
        "--combined", action="store_true",
        help="also the class-combined check on the first release (protected classes mixed with "
        "clean ones)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or HERE / "results" / "salm" / args.task.name
    settings = ClassificationSettings(
        victims=tuple(args.victims), countermeasures=tuple(args.countermeasures),
        seeds=tuple(args.seeds), epochs=args.epochs, validation_fraction=args.validation_fraction,
    )  # fmt: skip
    rows = []
    for name in args.releases:
        release = make_release(args.task / "train", out / "releases" / _slug(name), name, args)
        started = time.time()
        result = evaluate_classification(
            args.task / "train", release, args.task / "test", out / "evaluations" / _slug(name),
            settings, progress=_log_progress(name), store=out / "runs.json",
        )  # fmt: skip
        log(f"{name}: victims done in {time.time() - started:.0f} s")
        rows.append(_row(name, args.task / "train", release, result))
    write_table(out, rows)
    print((out / "salm.md").read_text())
    if args.combined:
        first = out / "releases" / _slug(args.releases[0])
        combined = class_combined(args.task, first, settings)
        (out / "combined.json").write_text(json.dumps(combined, indent=1))
        print(json.dumps(combined["summary"], indent=1))
    return 0


def class_combined(task: Path, release: Path, settings: ClassificationSettings) -> dict:
    """SALM's class-combined setting: the release's images for the first half of the classes,
    the clean images for the others; the victim's recall on clean test images of each half at
    its best epoch, beside the clean victim's (same seeds)."""
    clean = read_class_set(task / "train")
    protected = read_class_set(release, clean.names)
    test = read_class_set(task / "test", clean.names)
    half = (len(clean.names) + 1) // 2
    by_id = dict(zip(protected.ids, protected.samples, strict=True))
    mixed = [
        by_id[i] if s.label < half else s for i, s in zip(clean.ids, clean.samples, strict=True)
    ]
    runs = {"clean": [], "combined": []}
    for seed in settings.seeds:
        for victim in settings.victims:
            for side, samples in (("clean", clean.samples), ("combined", mixed)):
                run = train_victim(samples, test.samples, victim, seed, settings.epochs,
                                   num_classes=len(clean.names))  # fmt: skip
                best = run.best_epoch - 1
                recall = run.recall_per_epoch[best]
                runs[side].append({
                    "victim": victim, "seed": seed, "best_epoch": run.best_epoch,
                    "protected_classes_recall": float(np.nanmean(recall[:half])),
                    "clean_classes_recall": float(np.nanmean(recall[half:])),
                })  # fmt: skip
                log(f"combined {side} {victim} seed {seed}: {runs[side][-1]}")
    summary = {
        side: {key: float(np.mean([r[key] for r in rows]))
               for key in ("protected_classes_recall", "clean_classes_recall")}
        for side, rows in runs.items()
    }  # fmt: skip
    return {"protected_classes": list(clean.names[:half]), "runs": runs, "summary": summary}


def make_release(train: Path, target: Path, name: str, args: argparse.Namespace) -> Path:
    """The release ``method:budget[:K]`` of ``train`` (made once; reused when its manifest, or a
    pattern release's ``pattern.json``, is there)."""
    if (Path(f"{target}.private") / "manifest.json").exists() or (target / "pattern.json").exists():
        return target
    method, preset, *rest = name.split(":")
    if method in PATTERNS:
        if not preset.startswith("eps"):
            raise SystemExit(f"{name}: a pattern release takes epsNN (grey levels)")
        period = int(rest[0]) if rest else 2
        return pattern_release(train, target, method, float(preset.removeprefix("eps")), period)
    if preset.startswith("psnr") and preset not in PRESETS:
        floor = float(preset.removeprefix("psnr"))
        PRESETS[preset] = Preset(1e9, floor, f"whole-image PSNR >= {floor:g} dB (benchmark only)")
    budget = (
        BudgetRequest(epsilon=float(preset.removeprefix("eps")))
        if preset.startswith("eps") else BudgetRequest(preset=preset)
    )  # fmt: skip
    settings = ProtectSettings(
        method=method, budget=budget,
        top_k=float(rest[0]) if rest else None, iterations=args.iterations,
    )  # fmt: skip
    started = time.time()
    outcome = protect_dataset(train, discover_classified(train), target, settings)
    if outcome.failures:
        raise SystemExit(f"{name}: {len(outcome.failures)} images failed: {outcome.failures[0]}")
    log(f"{name}: released {len(outcome.results)} images in {time.time() - started:.0f} s")
    return target


def pattern_stripes(shape: tuple[int, int], orientation: int, period: int) -> np.ndarray:
    """±1 stripes of ``period`` pixels (half +1, half -1) across rows (0), columns (1) or both
    (2: a checkerboard)."""
    rows, cols = np.indices(shape)
    index = (rows, cols, rows + cols)[orientation]
    return np.where((index // max(1, period // 2)) % 2 == 0, 1.0, -1.0)


def class_pattern(method: str, label: int, shape: tuple[int, int], period: int) -> np.ndarray:
    """The pattern of class ``label``: ``bench-orient`` stripes of orientation ``label`` (rows,
    columns, diagonal); ``bench-presence`` nothing for class 0, else stripes of orientation
    ``label - 1``. At most three (orient) or four (presence) classes."""
    orientation = label if method == "bench-orient" else label - 1
    if orientation < 0:
        return np.zeros(shape)
    if orientation > 2:
        raise SystemExit(f"{method}: three orientations only, class {label} has none")
    return pattern_stripes(shape, orientation, period)


def pattern_release(train: Path, target: Path, method: str, epsilon: float, period: int) -> Path:
    """Each 2D image plus ``epsilon`` × its class's pattern, clipped to its stored type's range,
    written as its original was (same relative path and format, header copied), with the
    dataset's CSV; ``pattern.json`` (written last) records the parameters."""
    started = time.time()
    cases = [case for case in discover_classified(train) if not case.problem]
    names = class_names(cases)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for case in cases:
        original = sitk.ReadImage(str(case.image))
        array = sitk.GetArrayFromImage(original)
        if array.ndim != 2:
            raise SystemExit(f"{case.image}: pattern releases are for 2D images")
        pattern = class_pattern(method, names.index(case.category), array.shape, period)
        changed = array.astype(np.float64) + epsilon * pattern
        if np.issubdtype(array.dtype, np.integer):
            info = np.iinfo(array.dtype)
            changed = np.clip(np.round(changed), info.min, info.max)
        written = sitk.GetImageFromArray(changed.astype(array.dtype))
        written.CopyInformation(original)
        path = staging / case.image.relative_to(train)
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(written, str(path), useCompression=True)
    for table in train.glob("*.csv"):
        shutil.copy2(table, staging / table.name)
    record = {"method": method, "epsilon": epsilon, "period": period, "classes": names}
    (staging / "pattern.json").write_text(json.dumps(record, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    log(f"{method}:eps{epsilon:g}: wrote {len(cases)} images in {time.time() - started:.0f} s")
    return target


def visibility(train: Path, release: Path) -> dict:
    """Whole-image PSNR of each written file against its original: peak 255 for 8-bit files,
    else the original's own range; mean and min over the images the release changed, how many it
    left unchanged (PSNR infinite), the largest change and the mean share of pixels changed."""
    psnr, changed, largest = [], [], 0.0
    for case in discover_classified(train):
        if case.problem:
            continue
        clean = sitk.GetArrayFromImage(sitk.ReadImage(str(case.image)))
        written = sitk.GetArrayFromImage(
            sitk.ReadImage(str(release / case.image.relative_to(train)))
        )
        peak = 255.0 if clean.dtype == np.uint8 else float(np.ptp(clean))
        difference = written.astype(np.float64) - clean.astype(np.float64)
        mse = float(np.mean(difference**2))
        psnr.append(10 * math.log10(peak**2 / mse) if mse else math.inf)
        changed.append(float(np.mean(difference != 0)))
        largest = max(largest, float(np.abs(difference).max()))
    finite = [value for value in psnr if math.isfinite(value)]
    return {
        "psnr_db_mean": float(np.mean(finite)) if finite else math.inf,
        "psnr_db_min": min(finite, default=math.inf),
        "unchanged_images": len(psnr) - len(finite),
        "epsilon_max": largest,
        "changed_fraction": float(np.mean(changed)),
    }


def _row(name: str, train: Path, release: Path, result: dict) -> dict:
    manifest_path = Path(f"{release}.private") / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return {
        "release": name,
        "top_k": manifest.get("settings", {}).get("top_k"),
        **visibility(train, release),
        "psnr_own_range_manifest": manifest.get("summary", {}).get("psnr_db_mean"),
        "history": manifest.get("method", {}).get("history", {}),
        "classes": result["classes"],
        "victims": result["rows"],
    }


def write_table(out: Path, rows: list[dict]) -> None:
    path = out / "salm.json"
    stored = {r["release"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for row in rows:  # a release's victim rows merge: this run's win per victim and countermeasure
        old = stored.get(row["release"], {}).get("victims", [])
        merged = {(v["victim"], v["countermeasure"]): v for v in [*old, *row["victims"]]}
        stored[row["release"]] = {**row, "victims": list(merged.values())}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(stored.values()), indent=1))
    lines = [
        "Clean-test accuracy of the model each attacker keeps (mean, per seed in brackets): the "
        "attacker with only the release keeps the model best on the share of the release it "
        "held out; the attacker who early-stops on clean data, the epoch best on the clean test "
        "images. PSNR on the written files (peak 255 for 8-bit images).",
        "",
        "| release | PSNR mean / min (dB) | max change | changed | victim | countermeasure | "
        "seeds | clean: only the release / early-stops on clean | protected, attacker with "
        "only the release | protected, attacker who early-stops on clean | protected, last "
        "model | chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in stored.values():
        for v in row["victims"]:
            clean, prot = v["clean"], v["protected"]
            lines.append(
                f"| {row['release']} | {_psnr(row)} | {row.get('epsilon_max', math.nan):g} | "
                f"{row['changed_fraction']:.1%} | {v['victim']} | {v['countermeasure']} | "
                f"{prot['seeds']} | {_mean(clean, 'release_only_accuracy')} / "
                f"{_mean(clean, 'best_accuracy')} | {_seeds(prot, 'release_only_accuracy')} | "
                f"{_seeds(prot, 'best_accuracy')} | {_mean(prot, 'final_accuracy')} | "
                f"{v['chance']:.2f} |"
            )
    (out / "salm.md").write_text("\n".join(lines) + "\n")
    k_sweep(out, list(stored.values()))


def k_sweep(out: Path, rows: list[dict]) -> None:
    """``k_sweep.png``: undefended ResNet-18 accuracy (best epoch) against K, one line per
    method:preset with two or more K, beside the clean victim and chance."""
    import matplotlib  # noqa: PLC0415 - only this plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    lines: dict[str, list[tuple[float, float]]] = {}
    clean = chance = None
    for row in rows:
        for v in row["victims"]:
            if v["victim"] == "resnet18" and v["countermeasure"] == "none" and row["top_k"]:
                name = ":".join(row["release"].split(":")[:2])
                lines.setdefault(name, []).append(
                    (row["top_k"], v["protected"]["best_accuracy"][0])
                )
                clean, chance = v["clean"]["best_accuracy"][0], v["chance"]
    lines = {name: sorted(points) for name, points in lines.items() if len(points) > 1}
    if not lines:
        return
    figure, axis = plt.subplots(figsize=(5, 3.5))
    for name, points in lines.items():
        axis.plot(*zip(*points, strict=True), marker="o", label=name)
    axis.axhline(clean, color="green", linestyle="--", label="clean victim")
    axis.axhline(chance, color="grey", linestyle=":", label="chance")
    axis.axhline(chance + 0.10, color="red", linestyle=":", label="target (chance + 0.10)")
    axis.set(xscale="log", xlabel="K (share of voxels changed)", ylabel="accuracy, best epoch",
             ylim=(0, 1.05), title=f"{out.name}: ResNet-18 on the release")  # fmt: skip
    ks = sorted({k for points in lines.values() for k, _ in points})
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_xticks(ks, [f"{k:g}" for k in ks])
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "k_sweep.png", dpi=120)
    plt.close(figure)


def _psnr(row: dict) -> str:
    shown = f"{row['psnr_db_mean']:.1f} / {row['psnr_db_min']:.1f}"
    unchanged = row.get("unchanged_images", 0)
    return shown + (f" ({unchanged} images unchanged)" if unchanged else "")


def _mean(stats: dict, key: str) -> str:
    return f"{stats[key][0]:.3f}" if key in stats else "—"


def _seeds(stats: dict, key: str) -> str:
    """``mean (seed, seed, ...)``; the mean alone for a row stored before per-seed values."""
    per_seed = stats.get(f"{key}_per_seed", [])
    listed = f" ({', '.join(f'{value:.3f}' for value in per_seed)})" if len(per_seed) > 1 else ""
    return _mean(stats, key) + listed


def _slug(name: str) -> str:
    return name.replace(":", "-")


def _log_progress(name: str):
    def report(phase: str, done: int, total: int) -> None:
        log(f"{name}: {phase} {done}/{total}")

    return report


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
