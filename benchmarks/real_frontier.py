"""Protection on real multi-patient data: releases written by the real job, victims trained from
the files, both attackers, several seeds and architectures.

For each named release (``RELEASES``: a ``medue protect`` command line) of a dataset built by
``drive_data.py`` (DRIVE: 20 training / 20 test patients), this script

1. runs ``medue protect TRAIN RELEASE ...`` (the CLI, as a user would) unless done;
2. measures PSNR on the written files against the originals, with the 0-255 peak of 8-bit images
   (the 2D papers' convention) and with the image's own range (what the product reports);
3. trains the patch victim (``medue.evaluate.patch_victim``: 64x64 patches, flips, Adam, steps,
   scored on the whole clean test images inside the field of view every 100 steps) on the release
   and on the clean training set, per architecture and seed, and records what the two attackers
   keep: the one with only the release (model best on a fifth of the release held out) and the
   one who early-stops on the clean test images; plus the last model.

Results are appended to ``WORK/results.jsonl`` (one line per run; finished runs are skipped, so
the script resumes), and ``--table`` prints the markdown table of docs/BENCHMARKS.md. Use one
torch thread per process and shard the runs over processes (``--shard 0/2`` and ``--shard 1/2``).

    python benchmarks/drive_data.py --drive DRIVE --out /tmp/drive
    python benchmarks/real_frontier.py --data /tmp/drive --work /tmp/frontier --shard 0/2
    python benchmarks/real_frontier.py --data /tmp/drive --work /tmp/frontier --table
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

RELEASES: dict[str, list[str]] = {
    "clean": [],
    "default": [],  # `medue protect TRAIN OUT` with no options: the product's default release
    "checker2-band1": ["--method", "pattern-checker", "--epsilon", "2", "--band-radius", "1"],
    "checker2-band0": ["--method", "pattern-checker", "--epsilon", "2", "--band-radius", "0"],
    "checker3-band0": ["--method", "pattern-checker", "--epsilon", "3", "--band-radius", "0"],
    "checker4-band1": ["--method", "pattern-checker", "--epsilon", "4", "--band-radius", "1"],
    "checker8-band1": ["--method", "pattern-checker", "--epsilon", "8", "--band-radius", "1"],
    "blocks2-band1": ["--method", "pattern-blocks", "--epsilon", "2", "--band-radius", "1"],
    "imperceptible": ["--preset", "imperceptible"],  # the default method at the other presets
    "strong": ["--preset", "strong"],
    "umed": ["--method", "umed"],  # UMed at the balanced preset (ROI + 3-voxel contour band)
    "emn": ["--method", "emn"],  # sample-wise error-minimising noise, balanced preset
    "keyed": ["--method", "pattern-checker-keyed"],  # the checkerboard's sign in secret blocks
    # the attacker who knows the method: the release cleaned by estimate_pattern.py
    "default-cleaned": [],
    "keyed-cleaned": [],
}
CLEANED = {"default-cleaned": ("default", "phase"), "keyed-cleaned": ("keyed", "blocks")}
"""Cleaned releases: (the release they are cleaned from, ``estimate_pattern.py``'s model)."""
ARCHITECTURES = ("unet", "segresnet")
DATASETS = {  # name -> patch size, extra protect options, field-of-view masks for scoring
    "drive": {"patch": 64, "protect": [], "fov": True},  # drive_data.py
    "msd": {"patch": 48, "protect": ["--mode", "2d"], "fov": False},  # msd_lung_data.py
}


def protect(data: Path, work: Path, release: str, dataset: str) -> Path:
    """The release folder, written by the CLI on first use."""
    if release == "clean":
        return data / "train"
    folder = work / "releases" / release
    if release in CLEANED:
        return _cleaned(data, work, release, dataset)
    written = (folder / "release.json", folder / "medue" / "manifest.json")  # (older layout)
    if not any(path.is_file() for path in written):
        medue = Path(sys.executable).parent / "medue"
        command = [str(medue), "protect", str(data / "train"), str(folder), "--no-progress"]
        subprocess.run(command + RELEASES[release] + DATASETS[dataset]["protect"], check=True)
    return folder


def _cleaned(data: Path, work: Path, release: str, dataset: str) -> Path:
    """The release ``CLEANED[release]`` names, cleaned by ``estimate_pattern.py`` on first use."""
    source, model = CLEANED[release]
    folder = work / "releases" / release
    if not (folder / "labels").is_dir():
        script = Path(__file__).with_name("estimate_pattern.py")
        command = [sys.executable, str(script), str(protect(data, work, source, dataset)),
                   str(folder), "--model", model, "--original", str(data / "train")]  # fmt: skip
        subprocess.run(command, check=True)
    return folder


def read_array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def psnr(data: Path, release: Path) -> dict:
    """Whole-image PSNR of the written files: peak 255 (8-bit) and the image's own range."""
    peak, own = [], []
    for original in sorted((data / "train").glob("*.nii.gz")):
        clean = sitk.GetArrayFromImage(sitk.ReadImage(str(original))).astype(np.float64)
        written = sitk.GetArrayFromImage(sitk.ReadImage(str(release / original.name)))
        mse = float(np.mean((written.astype(np.float64) - clean) ** 2))
        peak.append(10 * np.log10(255.0**2 / mse) if mse else float("inf"))
        own.append(10 * np.log10(float(np.ptp(clean)) ** 2 / mse) if mse else float("inf"))
    return {"psnr255_mean": float(np.mean(peak)), "psnr255_min": float(np.min(peak)),
            "psnr_own_mean": float(np.mean(own))}  # fmt: skip


def run_victim(
    data: Path, release: Path, arch: str, seed: int, steps: int, dataset: str, cm: str = "none"
) -> dict:
    """One patch victim on ``release`` (after the attacker's countermeasure ``cm``, a name in
    ``medue.evaluate.countermeasures``), scored on the clean test set (inside DRIVE's field of
    view)."""
    import torch  # noqa: PLC0415 - the table needs no torch

    from medue.evaluate import VictimConfig, load_slices  # noqa: PLC0415
    from medue.evaluate.patch_victim import StepSchedule, train_patch_victim  # noqa: PLC0415
    from medue.evaluate.slices import pad_centred  # noqa: PLC0415

    torch.set_num_threads(1)
    train, test = load_slices(release), load_slices(data / "test")
    fov = None
    if DATASETS[dataset]["fov"]:
        masks = [read_array(data / "test_fov" / f"{i}.nii.gz") for i in test.ids]
        fov = np.stack([pad_centred(m, *test.images.shape[1:]) for m in masks]).astype(np.int64)
    config = VictimConfig(architecture=arch, epochs=1, seed=seed, num_classes=2,
                          validation_fraction=0.2, countermeasure=cm)  # fmt: skip
    schedule = StepSchedule(steps=steps, patch=DATASETS[dataset]["patch"])
    result = train_patch_victim(train, test, config, schedule, fov)
    return result.as_dict()


def planned(
    releases: list[str], seeds: list[int], archs: list[str], cms: list[str]
) -> list[tuple[str, str, int, str]]:
    return [(r, a, s, c) for s in seeds for c in cms for r in releases for a in archs]


def run_key(dataset: str, release: str, arch: str, seed: int, steps: int, cm: str) -> str:
    key = f"{dataset}|{release}|{arch}|{seed}|{steps}"
    return key if cm == "none" else f"{key}|{cm}"


def done_keys(results: Path) -> set[str]:
    if not results.is_file():
        return set()
    return {json.loads(line)["key"] for line in results.read_text().splitlines() if line}


def run(args: argparse.Namespace) -> None:
    index, count = (int(x) for x in args.shard.split("/"))
    results = args.work / "results.jsonl"
    args.work.mkdir(parents=True, exist_ok=True)
    plan = planned(args.releases, args.seeds, args.archs, args.countermeasures)
    for n, (release, arch, seed, cm) in enumerate(plan):
        key = run_key(args.dataset, release, arch, seed, args.steps, cm)
        if n % count != index or key in done_keys(results):
            continue
        folder = protect(args.data, args.work, release, args.dataset)
        started = time.time()
        victim = run_victim(args.data, folder, arch, seed, args.steps, args.dataset, cm)
        record = {"key": key, "dataset": args.dataset, "release": release, "arch": arch,
                  "seed": seed, "steps": args.steps, "countermeasure": cm,
                  "psnr": psnr(args.data, folder) if release != "clean" else None,
                  "victim": victim}  # fmt: skip
        with open(results, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        v = record["victim"]
        print(f"{key}: release-only {v['release_only_dsc']:.3f}, clean-stop {v['best_dsc']:.3f}, "
              f"last {v['final_dsc']:.3f} ({time.time() - started:.0f} s)", flush=True)  # fmt: skip


def table(work: Path, dataset: str) -> str:
    """Markdown: per release and architecture, both attackers' DSC and % of clean, per seed."""
    records = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines()]
    records = [r for r in records if r["key"].startswith(f"{dataset}|")]
    by = {}
    for r in records:
        by.setdefault((r["release"], r["arch"], r.get("countermeasure", "none")), []).append(r)
    lines = ["| release (attacker's countermeasure) | PSNR peak 255 mean / min (own range) "
             "| JND at 1x / 4x, median (max) | victim | seeds "
             "| only the release: DSC (per seed) | % of clean | early-stops on clean: DSC "
             "| % of clean | last model |", "|---" * 10 + "|"]  # fmt: skip
    for (release, arch, cm), runs in by.items():
        clean = by.get(("clean", arch, cm), [])
        clean_a = np.mean([c["victim"]["release_only_dsc"] for c in clean]) if clean else np.nan
        clean_b = np.mean([c["victim"]["best_dsc"] for c in clean]) if clean else np.nan
        a = [r["victim"]["release_only_dsc"] for r in sorted(runs, key=lambda r: r["seed"])]
        b = [r["victim"]["best_dsc"] for r in runs]
        last = [r["victim"]["final_dsc"] for r in runs]
        p = runs[0]["psnr"]
        shown = "—" if p is None else (f"{p['psnr255_mean']:.1f} / {p['psnr255_min']:.1f} "
                                       f"({p['psnr_own_mean']:.1f})")  # fmt: skip
        lines.append(
            f"| {release}{'' if cm == 'none' else f' ({cm})'} | {shown} "
            f"| {visibility(work, release)} | {arch} | {len(runs)} "
            f"| {np.mean(a):.3f} "
            f"({', '.join(f'{x:.3f}' for x in a)}) | {np.mean(a) / clean_a:.0%} | "
            f"{np.mean(b):.3f} | {np.mean(b) / clean_b:.0%} | {np.mean(last):.3f} |"
        )
    return "\n".join(lines)


def visibility(work: Path, release: str) -> str:
    """The release's JND at 1x and 4x zoom (median and largest over its cases), as a reader sees
    it at each case's window (``release_jnd.py``), cached in the release's folder."""
    from release_jnd import manifest_path, release_jnd  # noqa: PLC0415 - only tables need it

    folder = work / "releases" / release
    if release == "clean" or not manifest_path(folder).is_file():
        return "—"
    cache = folder.with_name(release + ".jnd.json")  # beside the release: nothing added to it
    if not cache.is_file():
        cache.write_text(json.dumps(release_jnd(folder)))
    scores = json.loads(cache.read_text())
    return " / ".join(f"{np.median(scores[z]):.2f} ({max(scores[z]):.2f})" for z in ("1x", "4x"))


DATASET_NAMES = {
    "drive": "DRIVE retinal vessels, 20 patients to train and 20 others to test "
    "(shortcut regime: the pattern stands out of the fine noise)",
    "msd": "MSD lung-tumour CT, 13 patients to train and 13 others to test "
    "(buried regime: the pattern is under the lung's fine noise)",
}


PRESET_RELEASES = {"default": "balanced", "imperceptible": "imperceptible", "strong": "strong"}


def reference_entries(work: Path, dataset: str, name: str = "default") -> dict:
    """Release ``name``'s scores for ``medue/benchmark_reference.json`` (what an unchecked
    report quotes), one entry per victim architecture: both attackers, per countermeasure,
    mean over the seeds both the release and the clean victims ran."""
    records = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines()]
    records = [r for r in records if r["key"].startswith(f"{dataset}|")]
    entries = {}
    for arch in ARCHITECTURES:
        rows, psnr, seeds = [], None, 0
        for cm in dict.fromkeys(r.get("countermeasure", "none") for r in records):
            default, clean = (_by_seed(records, r, arch, cm) for r in (name, "clean"))
            common = sorted(set(default) & set(clean))
            if not common:
                continue
            psnr = psnr or default[common[0]]["psnr"]["psnr255_mean"]
            row = _reference_row(cm, [default[s]["victim"] for s in common],
                                 [clean[s]["victim"] for s in common])  # fmt: skip
            if rows and len(common) != seeds:  # a row on other seeds than the first says so
                row["seeds"] = len(common)
            seeds = seeds or len(common)
            rows.append(row)
        if rows:
            entries[f"{DATASET_NAMES[dataset]}, {arch}"] = {
                "victim": f"{arch} (2D patches)", "seeds": seeds, "psnr_db_mean": psnr,
                "rows": rows}  # fmt: skip
    return entries


def _by_seed(records: list[dict], release: str, arch: str, cm: str) -> dict[int, dict]:
    wanted = (release, arch, cm)
    return {r["seed"]: r for r in records
            if (r["release"], r["arch"], r.get("countermeasure", "none")) == wanted}  # fmt: skip


def _reference_row(cm: str, protected: list[dict], clean: list[dict]) -> dict:
    def mean(runs: list[dict], key: str) -> float:
        return float(np.mean([r[key] for r in runs]))

    row = {"countermeasure": cm}
    for prefix, key in (("", "best_dsc"), ("release_only_", "release_only_dsc")):
        c, p = mean(clean, key), mean(protected, key)
        row |= {f"{prefix}clean_dsc": c, f"{prefix}protected_dsc": p, f"{prefix}ratio": p / c}
    return row


def write_reference(work: Path, dataset: str) -> None:
    """Merge ``reference_entries`` into the packaged file under the default method's preset of
    each release in ``PRESET_RELEASES`` that has runs (the default release is ``balanced``)."""
    from medue.methods import DEFAULT_METHOD  # noqa: PLC0415
    from medue.reference import REFERENCE_FILE  # noqa: PLC0415

    data = json.loads(REFERENCE_FILE.read_text())
    for name, preset in PRESET_RELEASES.items():
        entries = reference_entries(work, dataset, name)
        if not entries:
            continue
        key = f"{DEFAULT_METHOD}:{preset}"
        data.setdefault("sources", {})[key] = (
            "docs/BENCHMARKS.md section 13, real multi-patient data"
        )
        release = data["releases"].setdefault(key, {})
        release.update(entries)
        print(f"{REFERENCE_FILE}: {key} <- {', '.join(release)}")
    REFERENCE_FILE.write_text(json.dumps(data, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="drive_data.py's or msd_lung_data.py's output")  # fmt: skip
    parser.add_argument("--dataset", choices=list(DATASETS), default="drive")
    parser.add_argument("--work", type=Path, required=True, help="releases and results.jsonl")
    parser.add_argument("--releases", nargs="+", default=list(RELEASES), choices=list(RELEASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--countermeasures", nargs="+", default=["none"],
                        help="the attacker's, e.g. median gaussian downup")  # fmt: skip
    parser.add_argument("--shard", default="0/1", help="i/n: this process runs every n-th run")
    parser.add_argument("--table", action="store_true", help="print the results table and stop")
    parser.add_argument("--reference", action="store_true",
                        help="write the default release's scores into the package's "
                        "benchmark_reference.json (what unchecked reports quote)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.work, args.dataset))
        return 0
    if args.reference:
        write_reference(args.work, args.dataset)
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
