#!/usr/bin/env python3
"""SALM on the classification benchmarks: releases made with the real protect job, victims trained
on each release and on the originals, tested on the clean test split.

Usage (a task folder from ``benchmarks/classify_data.py``, holding ``train/`` and ``test/``)::

    PYTHONPATH=plugin python benchmarks/salm_benchmark.py /tmp/cls/brain-level \\
        --releases salm:strong:0.1 salm-random:strong:0.1 salm-emn-image:strong \\
        --victims resnet18 densenet121 --seeds 0 1 2 --epochs 20 --threads 1

A release is ``method:preset[:K]`` (K the share of voxels SALM changes; the whole-image baseline
ignores it). Besides the product's presets, ``psnrNN`` (defined here only, to draw the frontier)
sets epsilon by the whole-image PSNR floor NN dB alone. Each release lands in
``OUT/releases/<release>/`` (reused when its manifest exists), its victims in
``OUT/evaluations/<release>/`` (resumable), and the table of all of them, with the visibility
read from the release's manifest (files as written), in ``OUT/salm.{md,json}``; with several K
for one method, ``OUT/k_sweep.png`` plots protected accuracy against K.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from medue.budget import PRESETS, BudgetRequest, Preset
from medue.class_datasets import discover_classified
from medue.evaluate.classification import (
    ClassificationSettings,
    evaluate_classification,
    read_class_set,
)
from medue.evaluate.classifier_victim import train_victim
from medue.job import ProtectSettings, protect_dataset

HERE = Path(__file__).resolve().parent


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
        seeds=tuple(args.seeds), epochs=args.epochs,
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
        rows.append(_row(name, release, result))
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
    """The release ``method:preset[:K]`` of ``train`` (made once; reused when its manifest is
    there)."""
    if (target / "medue" / "manifest.json").exists():
        return target
    method, preset, *rest = name.split(":")
    if preset.startswith("psnr") and preset not in PRESETS:
        floor = float(preset.removeprefix("psnr"))
        PRESETS[preset] = Preset(1e9, floor, f"whole-image PSNR >= {floor:g} dB (benchmark only)")
    settings = ProtectSettings(
        method=method, budget=BudgetRequest(preset=preset),
        top_k=float(rest[0]) if rest else None, iterations=args.iterations,
    )  # fmt: skip
    started = time.time()
    outcome = protect_dataset(train, discover_classified(train), target, settings)
    if outcome.failures:
        raise SystemExit(f"{name}: {len(outcome.failures)} images failed: {outcome.failures[0]}")
    log(f"{name}: released {len(outcome.results)} images in {time.time() - started:.0f} s")
    return target


def _row(name: str, release: Path, result: dict) -> dict:
    manifest = json.loads((release / "medue" / "manifest.json").read_text())
    cases = manifest["cases"]
    return {
        "release": name,
        "top_k": manifest["settings"].get("top_k"),
        "psnr_db_mean": manifest["summary"]["psnr_db_mean"],
        "psnr_db_min": manifest["summary"]["psnr_db_min"],
        "epsilon_native": [
            min(c["epsilon_native"] for c in cases),
            max(c["epsilon_native"] for c in cases),
        ],  # fmt: skip
        "changed_fraction": max(c["metrics"]["changed_fraction"] for c in cases),
        "history": manifest["method"].get("history", {}),
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
        "| release | PSNR mean / min (dB) | ε (native) | changed | victim | countermeasure | "
        "clean acc (best) | protected acc (best) | worst seed | protected acc (final) | chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in stored.values():
        eps = "–".join(f"{e:g}" for e in dict.fromkeys(row["epsilon_native"]))
        for v in row["victims"]:
            clean, prot = v["clean"], v["protected"]
            lines.append(
                f"| {row['release']} | {row['psnr_db_mean']:.1f} / {row['psnr_db_min']:.1f} | "
                f"{eps} | {row['changed_fraction']:.1%} | {v['victim']} | {v['countermeasure']} "
                f"| {_pm(clean['best_accuracy'])} | {_pm(prot['best_accuracy'])} | "
                f"{prot['worst_seed_best_accuracy']:.3f} | {_pm(prot['final_accuracy'])} | "
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


def _pm(pair: list[float]) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


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
