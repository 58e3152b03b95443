#!/usr/bin/env python3
"""Proof of use on PneumoniaMNIST: is `medue verify` right about models trained on a release?

Usage (``DATA`` holds ``train/``, ``val/`` and ``test/``: ``benchmarks/pneumoniamnist_data.py``)::

    PYTHONPATH=plugin python benchmarks/verify.py /tmp/pneumonia --work /tmp/verify \\
        --keys 2 --archs resnet18 densenet121 --seeds 0 1 2 --epochs 10 --epsilon 4

1. ``--keys`` releases of ``DATA/train`` with the real CLI (``medue protect --method
   pattern-presence-keyed --epsilon E``), each with its own fresh key, in ``WORK/releases/k<i>``.
2. Victims (``medue.evaluate.classifier_victim``, 20 % of the training folder held out for the
   attacker with only the release) on each release and on the clean ``train/``; each run keeps
   three models: the one that attacker keeps (best on its held-out release images), the one the
   attacker who early-stops on clean data keeps (best on ``test/``) and the last. Saved as state
   dicts in ``WORK/models``; finished runs are reused.
4. ``--only blackbox``: the same through probe files (``medue verify probes``: 16 probes, 99
   decoys, 1,616 files per key, for the two release keys and ``--black-box-keys`` fresh ones),
   each release-only model run on the files read from disk, its scores written as a CSV and
   scored as ``medue verify score`` does. Writes ``WORK/black_box.json``.
3. Every model against every release's key (the suspect's own key: a trained model; another
   release's key: a null) and against ``--null-keys`` fresh keys per model that no release ever
   used (nulls: the key is independent of the model by construction), with the probes of
   ``DATA/val`` (never released) of the reference class, ``--decoys`` decoys each, through the
   product's ``medue.verify.test.verify_classifier`` as ``medue verify`` runs it.

Writes ``WORK/verify.json`` (one row per model and key) and prints the detection rates with
Clopper-Pearson 95 % intervals, the null false-positive rate at alpha = 0.01 and ``WORK/qq.png``
(null p-values against the uniform).
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import beta

from medue.evaluate.classification import read_class_set
from medue.evaluate.classifier_victim import train_victim
from medue.io import read_volume
from medue.verify.blackbox import (
    DECOYS_BLACK_BOX,
    PROBES_BLACK_BOX,
    score_predictions,
    write_probes,
)
from medue.verify.probes import read_probes
from medue.verify.record import read_record
from medue.verify.suspect import Intensity, load_suspect, scores
from medue.verify.test import verify_classifier

ALPHA = 0.01


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--keys", type=int, default=2)
    parser.add_argument("--archs", nargs="+", default=["resnet18"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--epsilon", type=float, default=4.0)
    parser.add_argument("--decoys", type=int, default=199)
    parser.add_argument("--null-keys", type=int, default=30)
    parser.add_argument("--probes", type=int, default=64)
    parser.add_argument(
        "--sources",
        nargs="+",
        help="train only on these (clean, k0, k1, ..., or k0@25: 25 %% of k0, clean originals "
        "for the rest; default clean and every release)",
    )
    parser.add_argument("--countermeasure", default="none", help="the attacker's, on the source")
    parser.add_argument("--init", type=Path, help="fine-tune from this state dict (same network)")
    parser.add_argument(
        "--black-box-keys", type=int, default=4, help="fresh null keys in the black-box step"
    )
    parser.add_argument(
        "--only", choices=["releases", "train", "verify", "blackbox"], help="one step only"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    releases = [make_release(args, i) for i in range(args.keys)]
    if args.only in (None, "train"):
        for source in args.sources or ["clean", *(r.name for r in releases)]:
            for arch in args.archs:
                for seed in args.seeds:
                    train_models(args, source, arch, seed)
    if args.only in (None, "verify"):
        rows = verify_all(args, releases)
        summarise(rows, args.work)
    if args.only in (None, "blackbox"):
        rows = black_box_all(args, releases)
        summarise(rows, args.work, "qq_black_box.png")
    return 0


def make_release(args: argparse.Namespace, index: int) -> Path:
    target = args.work / "releases" / f"k{index}"
    if not (Path(f"{target}.private") / "manifest.json").exists():
        command = [
            sys.executable,
            "-m",
            "medue.cli",
            "protect",
            str(args.data / "train"),
            str(target),
            "--method",
            "pattern-presence-keyed",
            "--epsilon",
            str(args.epsilon),
        ]
        log(" ".join(command[2:]))
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return target


def train_models(args: argparse.Namespace, source: str, arch: str, seed: int) -> None:
    name = f"{source}{variant(args)}_{arch}_s{seed}"
    meta = args.work / "models" / f"{name}.json"
    if meta.exists():
        return
    test = read_class_set(args.data / "test")
    train = _training_set(args, source)
    snapshots: dict[int, dict] = {}
    started = time.time()
    run = train_victim(
        train,
        test.samples,
        arch,
        seed,
        args.epochs,
        validation_fraction=0.2,
        countermeasure=args.countermeasure,
        on_epoch=lambda e, m: snapshots.__setitem__(e, _copy(m)),
        initial_state=torch.load(args.init, weights_only=True) if args.init else None,
    )
    picks = {"release_only": run.release_only_epoch, "early": run.best_epoch, "last": args.epochs}
    meta.parent.mkdir(parents=True, exist_ok=True)
    for which, epoch in picks.items():
        torch.save(snapshots[epoch], args.work / "models" / f"{name}.{which}.pt")
    accuracy = {
        "release_only": run.release_only_balanced_accuracy,
        "early": run.best_balanced_accuracy,
        "last": run.final_balanced_accuracy,
    }
    meta.write_text(
        json.dumps(
            {
                "source": source,
                "countermeasure": args.countermeasure,
                "init": str(args.init or ""),
                "arch": arch,
                "seed": seed,
                "epochs": picks,
                "balanced_accuracy": accuracy,
                "seconds": time.time() - started,
            }
        )
    )
    log(f"{name}: {accuracy} ({time.time() - started:.0f} s)")


def variant(args: argparse.Namespace) -> str:
    """A model name's attacker variant: ``-<countermeasure>`` and/or ``-ft`` (fine-tuned)."""
    countermeasure = f"-{args.countermeasure}" if args.countermeasure != "none" else ""
    return countermeasure + ("-ft" if args.init else "")


def _training_set(args: argparse.Namespace, source: str) -> list:
    """The samples of ``source``: ``clean``, a release ``k<i>``, or ``k<i>@<percent>``: that share
    of the release's images (a fixed random choice), the clean originals of the rest."""
    clean = read_class_set(args.data / "train")
    if source == "clean":
        return clean.samples
    release, _, percent = source.partition("@")
    marked = read_class_set(args.work / "releases" / release)
    if marked.ids != clean.ids:
        raise SystemExit(f"{release} does not hold the clean training images one for one")
    if not percent:
        return marked.samples
    chosen = np.random.default_rng(0).random(len(clean.ids)) < int(percent) / 100
    return [m if c else o for m, o, c in zip(marked.samples, clean.samples, chosen, strict=True)]


def verify_all(args: argparse.Namespace, releases: list[Path]) -> list[dict]:
    out = args.work / "verify.json"
    done = json.loads(out.read_text()) if out.exists() else []
    seen = {(r["model"], r["key"]) for r in done}
    records = {r.name: read_record(Path(f"{r}.private")) for r in releases}
    reference = next(iter(records.values())).perturber.reference
    probes = read_probes(args.data / "val", reference, limit=args.probes)
    for meta in sorted((args.work / "models").glob("*.json")):
        info = json.loads(meta.read_text())
        for which in ("release_only", "early", "last"):
            model_path = meta.with_suffix(f".{which}.pt")
            model = load_suspect(model_path, info["arch"], Intensity())
            keys = [(name, rec) for name, rec in records.items()]
            keys += [
                (f"fresh{i}", replace(next(iter(records.values())), key=secrets.token_bytes(32)))
                for i in range(args.null_keys)
            ]
            for key_name, record in keys:
                if (model_path.name, key_name) in seen:
                    continue
                result = verify_classifier(model, record, probes, str(model_path), args.decoys)
                test = next(iter(result.tests.values()))
                group = _group(info, key_name)
                done.append(
                    {
                        "model": model_path.name,
                        "source": info["source"],
                        "arch": info["arch"],
                        "seed": info["seed"],
                        "attacker": which,
                        "key": key_name,
                        "group": group,
                        "p": result.p_value,
                        "effect": test.effect,
                        "accuracy": info["balanced_accuracy"][which],
                    }
                )
            out.write_text(json.dumps(done, indent=1))
            log(f"{model_path.name}: verified against {len(keys)} keys")
    return done


def black_box_all(args: argparse.Namespace, releases: list[Path]) -> list[dict]:
    """The black-box mode as a suspect's owner would meet it: ``medue verify probes`` files per
    key (16 probes, 99 decoys), each release-only model run on the files as read from disk, its
    class scores written to a CSV and scored by ``medue verify score``'s function."""
    out = args.work / "black_box.json"
    done = json.loads(out.read_text()) if out.exists() else []
    seen = {(r["model"], r["key"]) for r in done}
    records = {r.name: read_record(Path(f"{r}.private")) for r in releases}
    first = next(iter(records.values()))
    rng = np.random.default_rng(0)
    fresh = {f"bfresh{i}": replace(first, key=rng.bytes(32)) for i in range(args.black_box_keys)}
    probes = read_probes(args.data / "val", first.perturber.reference, limit=PROBES_BLACK_BOX)
    sheets = {}
    for name, record in {**records, **fresh}.items():
        folder = args.work / "probes" / name
        marker = args.work / "probes" / f"{name}.sheet"  # where the batch's answer sheet is
        if not (marker.exists() and (folder / "probes.csv").exists()):
            shutil.rmtree(folder, ignore_errors=True)
            batch = write_probes(record, probes, folder, DECOYS_BLACK_BOX, seed=0)
            marker.write_text(str(batch.sheet))
        sheets[name] = (record, folder, Path(marker.read_text()))
    for meta in sorted((args.work / "models").glob("*.json")):
        info = json.loads(meta.read_text())
        model_path = meta.with_suffix(".release_only.pt")
        model = load_suspect(model_path, info["arch"], Intensity())
        for key_name, (record, folder, sheet) in sheets.items():
            if (model_path.name, key_name) in seen:
                continue
            predictions = args.work / "predictions" / f"{meta.stem}.{key_name}.csv"
            _predict(model, folder, predictions, record.perturber.class_names)
            result, _ = score_predictions(record, predictions, sheet)
            done.append(
                {
                    "model": model_path.name,
                    "source": info["source"],
                    "arch": info["arch"],
                    "seed": info["seed"],
                    "attacker": "release_only",
                    "key": key_name,
                    "group": _group(info, key_name),
                    "p": result.p_value,
                    "effect": next(iter(result.tests.values())).effect,
                    "queries": len(list(folder.glob("probe_*"))),
                }
            )
        out.write_text(json.dumps(done, indent=1))
        log(f"{model_path.name}: black-box against {len(sheets)} keys")
    return done


def _predict(model: torch.nn.Module, folder: Path, out: Path, classes: tuple[str, ...]) -> None:
    """The suspect's owner's side: class scores for every probe file, as read from disk."""
    files = sorted(folder.glob("probe_*"))
    images = np.stack([np.asarray(read_volume(f).array, np.float64).squeeze() for f in files])
    values = scores(model, images, str(folder))
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["image," + ",".join(classes)]
    lines += [
        f"{f.name}," + ",".join(f"{v:.6g}" for v in row)
        for f, row in zip(files, values, strict=True)
    ]
    out.write_text("\n".join(lines) + "\n")


def _group(info: dict, key_name: str) -> str:
    source = info["source"]
    release, _, percent = source.partition("@")
    if key_name == release:
        group = f"trained on {percent} % of the release" if percent else "trained"
        if info.get("countermeasure", "none") != "none":
            group += f", after {info['countermeasure']}"
        return group + (", fine-tuned" if info.get("init") else "")
    if source == "clean":
        return "null: clean model"
    return "null: fresh key" if "fresh" in key_name else "null: other key"


def rate_table(rows: list[dict], value: str = "effect", label: str = "median effect") -> None:
    """One line per group and attacker: how many rows, how many at p <= 0.01, the rate with its
    Clopper-Pearson 95 % interval, and the median of ``value`` (rows without it are skipped)."""
    print(f"| group | attacker | models x keys | p <= 0.01 | rate (95 % CI) | {label} |")
    print("|---|---|---|---|---|---|")
    for group in sorted({r["group"] for r in rows}):
        for attacker in ("release_only", "early", "last"):
            chosen = [r for r in rows if r["group"] == group and r["attacker"] == attacker]
            if not chosen:
                continue
            hits = sum(r["p"] <= ALPHA for r in chosen)
            low, high = clopper_pearson(hits, len(chosen))
            values = [r[value] for r in chosen if r.get(value) is not None]
            median = f"{np.median(values):+.3g}" if values else "-"
            print(
                f"| {group} | {attacker} | {len(chosen)} | {hits} | {hits / len(chosen):.1%} "
                f"({low:.1%}-{high:.1%}) | {median} |"
            )


def summarise(rows: list[dict], work: Path, figure: str = "qq.png") -> None:
    rate_table(rows)
    nulls = np.sort([r["p"] for r in rows if r["group"].startswith("null")])
    # one key per fresh draw: the pairs are independent; "other key" pairs share one key pair
    independent = ("null: fresh key", "null: clean model")
    drawn = np.sort([r["p"] for r in rows if r["group"] in independent])
    if len(nulls):
        qq_plot({"every null pair": nulls, "independent keys": drawn}, work / figure)
        for name, values in (("null pairs", nulls), ("independent-key null pairs", drawn)):
            hits = int(np.sum(values <= ALPHA))
            low, high = clopper_pearson(hits, len(values))
            print(
                f"{name}: {len(values)}, p <= 0.01: {hits} ({hits / len(values):.2%}, 95 % CI "
                f"{low:.2%}-{high:.2%}), p <= 0.05: {np.mean(values <= 0.05):.2%}"
            )
        print(f"QQ plot {work / figure}")


def clopper_pearson(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval (Clopper & Pearson, Biometrika 1934)."""
    tail = (1 - level) / 2
    low = beta.ppf(tail, hits, n - hits + 1) if hits > 0 else 0.0
    high = beta.ppf(1 - tail, hits + 1, n - hits) if hits < n else 1.0
    return float(low), float(high)


def qq_plot(series: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(4, 4))
    for name, p_values in series.items():
        expected = (np.arange(1, len(p_values) + 1)) / (len(p_values) + 1)
        axis.plot(expected, p_values, ".", markersize=3, label=f"{name} ({len(p_values)})")
    axis.plot([0, 1], [0, 1], "k:", linewidth=1)
    axis.set_xlabel("uniform quantile")
    axis.set_ylabel("null p-value (model x key pairs)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
