#!/usr/bin/env python3
"""The one entry point behind docs/BENCHMARKS.md: protect, then attack, on two real datasets.

Usage: ``python benchmarks/run_benchmarks.py [--scale small|medium|full] [--out DIR]``

1. MNI152 2D brain tissue (``mni152_data.py``): every release of the scale's ``Plan`` is made
   by the real ``protect_dataset`` job on the training slices; ``evaluate_release`` trains victims
   on it and on the clean slices and tests them on the clean test slices. The default release
   also faces every countermeasure.
2. The pyradiomics lesion sample data (``lesion_data.py``: every lesion split in z between train
   and test): the same, with a 3D UNet victim beside the 2D one.
Everything is resumable: a release whose manifest exists is reused, and victim runs are stored in
``<out>/<dataset>/runs.json``, so ``medium`` after ``small`` only adds what ``small`` lacks.
``small`` (the default) is sized for about 30 min on 2 CPU cores, ``medium`` for about 1.5 h more;
``full`` adds seeds, epochs and architectures for a GPU machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from medue.budget import BudgetRequest
from medue.datasets import discover_cases
from medue.evaluate.comparison import ratios_by_release
from medue.evaluate.experiment import EvaluationSettings, evaluate_release
from medue.evaluate.plots import countermeasure_ratios, metric_vs_psnr
from medue.evaluate.runs import ResultStore
from medue.job import ProtectSettings, protect_dataset
from medue.job.check import reference_entry
from medue.reference import REFERENCE_FILE

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_RELEASE = "pattern-blocks:balanced"  # the shipped default (docs/BENCHMARKS.md §8)
ROBUST_TARGET = 0.30  # issue 5: protected victim <= 30 % of the clean one under each countermeasure


@dataclass(frozen=True)
class Plan:
    """What one dataset gets at one scale."""

    releases: tuple[str, ...]
    victims: tuple[str, ...]
    seeds: tuple[int, ...]
    attacks: tuple[str, ...]  # countermeasures run against the default release
    attack_victims: tuple[str, ...]
    attack_seeds: tuple[int, ...]
    epochs: int = 10
    attacked: tuple[str, ...] = (DEFAULT_RELEASE,)  # the releases that face the countermeasures
    extra_victims: tuple[str, ...] = ()  # also trained on the default release (cost: SegResNet
    # runs 4-5x longer than UNet here, so the other architectures check the default release only)


# MNI152 is MR (24:1 codecs); the lesion data mixes CT and MR, so it gets the stricter CT 15:1.
MR_ATTACKS = (
    "gaussian",
    "median",
    "downup",
    "jpeg_mr",
    "jpeg2000_mr",
    "rewindow",
    "augment",
    "pgd",
)
CT_ATTACKS = ("gaussian", "median", "downup", "jpeg", "jpeg2000", "rewindow", "augment", "pgd")
BASELINES = (
    "random:balanced", "random-image:balanced", "checkerboard:balanced", "emn:balanced",
    "emn-image:balanced",
)  # fmt: skip
ALL_RELEASES = (
    "pattern-blocks:imperceptible", DEFAULT_RELEASE, "pattern-blocks:strong", "umed:balanced",
    *BASELINES,
)  # fmt: skip
# The default beside the robust preset, against every countermeasure.
ATTACKED = (DEFAULT_RELEASE, "pattern-blocks:robust")
# Lesion victims see 16 labelled training slices (2 batches an epoch), so they need more epochs.
LESION_EPOCHS = 60
SCALES = {
    # ~30 min on 2 CPU cores: the default release and every baseline at 3 seeds, every
    # countermeasure at 1 seed.
    "small": {
        "mni152": Plan((DEFAULT_RELEASE, *BASELINES), ("unet",), (0, 1, 2), MR_ATTACKS, ("unet",),
                       (0,)),
        "lesion": Plan((DEFAULT_RELEASE, *BASELINES), ("unet",), (0, 1, 2), CT_ATTACKS, ("unet",),
                       (0,), epochs=LESION_EPOCHS, extra_victims=("unet3d",)),
    },
    # ~1.5 h more on 2 CPU cores: the preset curve, SegResNet, countermeasures at 3 seeds.
    "medium": {
        "mni152": Plan(ALL_RELEASES, ("unet",), (0, 1, 2), MR_ATTACKS, ("unet",), (0, 1, 2),
                       attacked=ATTACKED, extra_victims=("segresnet",)),
        "lesion": Plan(ALL_RELEASES, ("unet",), (0, 1, 2), CT_ATTACKS, ("unet",), (0, 1, 2),
                       epochs=LESION_EPOCHS, attacked=ATTACKED,
                       extra_victims=("unet3d", "segresnet")),
    },
    # For a GPU: more seeds, epochs and architectures.
    "full": {
        "mni152": Plan(ALL_RELEASES, ("unet", "segresnet", "attentionunet"), (0, 1, 2, 3, 4),
                       MR_ATTACKS, ("unet", "segresnet"), (0, 1, 2), epochs=30,
                       attacked=ATTACKED),
        "lesion": Plan(ALL_RELEASES, ("unet", "segresnet", "unet3d"), (0, 1, 2, 3, 4), CT_ATTACKS,
                       ("unet", "unet3d"), (0, 1, 2), epochs=3 * LESION_EPOCHS,
                       attacked=ATTACKED),
    },
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=list(SCALES), default="small")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--datasets", nargs="+", default=["mni152", "lesion"])
    parser.add_argument(
        "--reference-only", action="store_true",
        help=f"only rebuild {REFERENCE_FILE.name} (what protect reports quote) from stored results",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    plans = SCALES[args.scale]
    out = args.out.resolve()
    if args.reference_only:
        write_reference(out, args.datasets)
        return 0
    summary = {}
    if "mni152" in args.datasets:
        data = out / "mni152"
        _run([sys.executable, str(HERE / "mni152_data.py"), "--out", str(data)])
        summary["mni152"] = bench_dataset(
            "mni152", data / "train", out, plans["mni152"], test_folder=data / "test"
        )
    if "lesion" in args.datasets:
        data = out / "lesion"
        _run([sys.executable, str(HERE / "lesion_data.py"), "--out", str(data)])
        summary["lesion"] = bench_dataset(
            "lesion", data / "train", out, plans["lesion"], test_folder=data / "test"
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    write_reference(out, list(summary))
    pages = [(out / name / "results.md").read_text() for name in summary]
    (out / "summary.md").write_text("\n\n".join(pages))
    print("\n\n".join(pages))
    return 0


def bench_dataset(
    name: str,
    clean: Path,
    out: Path,
    plan: Plan,
    test_folder: Path,
) -> dict:
    """Every release undefended, then the default release against every countermeasure."""
    store = ResultStore(out / name / "runs.json")
    base = EvaluationSettings(victims=plan.victims, seeds=plan.seeds, epochs=plan.epochs)
    results = {}
    for release_name in plan.releases:
        release = make_release(name, clean, out, release_name)
        log(f"{name} {release_name}: evaluating")
        extra = plan.extra_victims if release_name == DEFAULT_RELEASE else ()
        results[release_name] = evaluate_release(
            clean, release, out / name / "evaluations" / _slug(release_name),
            replace(base, victims=(*plan.victims, *extra)), test_folder=test_folder, store=store,
        )  # fmt: skip
    attacked = replace(
        base,
        victims=plan.attack_victims,
        seeds=plan.attack_seeds,
        countermeasures=("none", *plan.attacks),
    )
    for release_name in plan.attacked:
        log(f"{name} {release_name}: countermeasures")
        results[_attacked_key(release_name)] = evaluate_release(
            clean, make_release(name, clean, out, release_name),
            out / name / "evaluations" / _attacked_key(release_name), attacked,
            test_folder=test_folder, store=store,
        )  # fmt: skip
    write_dataset_summary(name, plan, results, out / name)
    return {key: value["rows"] for key, value in results.items()}


def make_release(dataset: str, clean: Path, out: Path, release_name: str) -> Path:
    """Protect ``clean`` with method:preset unless that release already exists."""
    release = out / dataset / "releases" / _slug(release_name)
    manifest = Path(f"{release}.private") / "manifest.json"
    if manifest.exists():
        return release
    method, preset = release_name.split(":")
    log(f"{dataset} {release_name}: protecting")
    settings = ProtectSettings(method=method, budget=BudgetRequest(preset=preset))
    started = time.monotonic()
    protect_dataset(clean, discover_cases(clean), release, settings)
    log(f"{dataset} {release_name}: protected in {time.monotonic() - started:.0f} s")
    return release


def write_dataset_summary(name: str, plan: Plan, results: dict, folder: Path) -> None:
    """results.md per dataset: one line per release, then a countermeasure table per attacked
    release; plots of DSC vs PSNR and of protected/clean under each countermeasure."""
    lines = [
        f"## {name}",
        "",
        "| release | victim | PSNR mean / min (dB) | SSIM | max change | clean DSC best"
        " | protected DSC best | protected / clean | protected DSC final |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    points = []
    for release_name in plan.releases:
        result = results[release_name]
        imp = result["imperceptibility"]
        for row in result["rows"]:
            lines.append(
                f"| {release_name} | {row['victim']} | {imp['psnr_db_mean']:.1f} / "
                f"{imp['psnr_db_min']:.1f} | {imp['ssim_mean']:.4f} | {imp['max_abs_change']:g} | "
                f"{_pm(row['clean_best'])} | {_pm(row['protected_best'])} | {row['ratio']:.0%} | "
                f"{_pm(row['protected_final'])} |"
            )
            if row["victim"] == "unet":
                points.append((release_name, imp["psnr_db_mean"], row["protected_best"][0]))
                clean_point = ("clean", 0.0, row["clean_best"][0])
    metric_vs_psnr([clean_point, *points], folder / "dsc_vs_psnr.png")
    for release_name in plan.attacked:
        key = _attacked_key(release_name)
        lines += ["", f"### {name}: {release_name} against countermeasures", ""]
        lines.append((folder / "evaluations" / key / "results.md").read_text())
    attacked = {release: results[_attacked_key(release)] for release in plan.attacked}
    ratios = ratios_by_release(attacked, plan.attack_victims[0])
    countermeasure_ratios(ratios, folder / "countermeasures.png", target=ROBUST_TARGET)
    (folder / "results.md").write_text("\n".join(lines))
    log(f"{name}: wrote {folder / 'results.md'}")


def write_reference(out: Path, datasets: list[str]) -> None:
    """The packaged countermeasure scores of every attacked release (``medue.reference``)."""
    releases: dict[str, dict] = {}
    for dataset in datasets:
        for release_name in dict.fromkeys(ATTACKED):
            path = out / dataset / "evaluations" / _attacked_key(release_name) / "results.json"
            if not path.exists():
                continue
            result = json.loads(path.read_text())
            releases.setdefault(release_name, {})[dataset] = reference_entry(result)
    reference = {"source": "docs/BENCHMARKS.md §2, §3b", "releases": releases}
    REFERENCE_FILE.write_text(json.dumps(reference, indent=1) + "\n")
    log(f"wrote {REFERENCE_FILE} ({', '.join(releases) or 'no attacked release found'})")


def _attacked_key(release_name: str) -> str:
    """Evaluation folder (and results key) of a release against the countermeasures."""
    if release_name == DEFAULT_RELEASE:
        return "countermeasures"  # the path earlier runs and docs/BENCHMARKS.md use
    return f"countermeasures-{_slug(release_name)}"


def _pm(pair: list[float]) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"


def _slug(release_name: str) -> str:
    return release_name.replace(":", "-")


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
