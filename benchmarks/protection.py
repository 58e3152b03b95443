#!/usr/bin/env python3
"""Protection benchmark: victims trained on protected files, tested on clean held-out files.

Usage: ``python benchmarks/protection.py [--out benchmarks/results] [--seeds 0 1 2] [--epochs 10]
[--conditions clean umed:balanced checkerboard:balanced ...] [--iterations 300]``

For each condition (method:preset) it protects the MNI152 2D training slices with the real
``protect_dataset`` job (files written, rounded to uint8 and reloaded), trains a MONAI UNet victim
from scratch on the written files for each seed, and tests it on the clean test slices. Victim DSC
is taken at the best epoch (an attacker with a clean validation set stops there) and at the last.
PSNR/SSIM come from the job's manifest (measured on the written files). Finished conditions are
reused (``results.json``); delete it or a condition's folder to recompute.
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

from medue.budget import BudgetRequest
from medue.datasets import discover_cases
from medue.evaluate import VictimConfig, load_slices, train_victim
from medue.job import ProtectSettings, protect_dataset

HERE = Path(__file__).resolve().parent
DEFAULT_CONDITIONS = [
    "clean",
    "umed:imperceptible",
    "umed:balanced",
    "umed:strong",
    "random:balanced",
    "checkerboard:imperceptible",
    "checkerboard:balanced",
    "checkerboard:strong",
]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(2)
    out = args.out.resolve()
    data = out / "mni152"
    script = HERE / "mni152_data.py"
    subprocess.run([sys.executable, str(script), "--out", str(data)], check=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    test = load_slices(data / "test")
    for condition in args.conditions:
        key = f"{condition}|epochs={args.epochs}|seeds={','.join(map(str, args.seeds))}"
        if key in results:
            print(f"[bench] {condition}: cached")
            continue
        results[key] = run_condition(condition, data, out, test, args)
        results_path.write_text(json.dumps(results, indent=2))
        print(f"[bench] {condition}: {summary_line(results[key])}", flush=True)
    print(markdown_table(results, args))
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=300, help="UMed fit iterations")
    parser.add_argument("--conditions", nargs="+", default=DEFAULT_CONDITIONS)
    return parser.parse_args(argv)


def run_condition(condition: str, data: Path, out: Path, test, args) -> dict:
    record: dict = {"condition": condition}
    train_folder = data / "train"
    if condition != "clean":
        method, preset = condition.split(":")
        release = out / "releases" / condition.replace(":", "-")
        settings = ProtectSettings(
            method=method, budget=BudgetRequest(preset=preset), iterations=args.iterations
        )
        started = time.monotonic()
        outcome = protect_dataset(train_folder, discover_cases(train_folder), release, settings)
        record["protect_seconds"] = round(time.monotonic() - started, 1)
        manifest = json.loads(outcome.manifest.read_text())
        record["imperceptibility"] = manifest["summary"]
        record["epsilon_native"] = sorted({c["epsilon_native"] for c in manifest["cases"]})
        train_folder = release
    train = load_slices(train_folder)
    runs = []
    for seed in args.seeds:
        config = VictimConfig(epochs=args.epochs, seed=seed, num_classes=3)
        runs.append(train_victim(train, test, config).as_dict())
    best = [r["best_dsc"] for r in runs]
    final = [r["final_dsc"] for r in runs]
    record.update(
        best_dsc_mean=float(np.mean(best)),
        best_dsc_sd=float(np.std(best)),
        final_dsc_mean=float(np.mean(final)),
        final_dsc_sd=float(np.std(final)),
        runs=runs,
    )
    return record


def summary_line(record: dict) -> str:
    line = f"best DSC {record['best_dsc_mean']:.3f} ± {record['best_dsc_sd']:.3f}"
    line += f", final {record['final_dsc_mean']:.3f} ± {record['final_dsc_sd']:.3f}"
    imp = record.get("imperceptibility")
    if imp:
        line += f", PSNR {imp['psnr_db_mean']:.1f} dB (min {imp['psnr_db_min']:.1f})"
        line += f", SSIM {imp['ssim_mean']:.4f}, eps {record['epsilon_native']}"
    return line


def markdown_table(results: dict, args) -> str:
    rows = [
        "| condition | eps (grey levels) | PSNR mean / min (dB) | SSIM mean | victim DSC best | "
        "victim DSC final | protect time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for record in results.values():
        imp = record.get("imperceptibility") or {}
        psnr = f"{imp['psnr_db_mean']:.1f} / {imp['psnr_db_min']:.1f}" if imp else "-"
        ssim = f"{imp['ssim_mean']:.4f}" if imp else "-"
        eps = ",".join(f"{e:g}" for e in record.get("epsilon_native", [])) or "-"
        rows.append(
            f"| {record['condition']} | {eps} | {psnr} | {ssim} | "
            f"{record['best_dsc_mean']:.3f} ± {record['best_dsc_sd']:.3f} | "
            f"{record['final_dsc_mean']:.3f} ± {record['final_dsc_sd']:.3f} | "
            f"{record.get('protect_seconds', '-')} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
