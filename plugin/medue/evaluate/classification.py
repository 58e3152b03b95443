"""``medue evaluate`` for classification releases (SALM): classifier victims trained on the
protected copy and on the clean original, tested on clean held-out images.

Data flows one way: dataset folders (``medue.class_datasets``) -> samples read from the files in
native units, what an attacker downloads -> victim runs (``classifier_victim``; finished runs kept
in ``runs.json`` keyed by the training and test files' fingerprints and the validation share, so a
rerun resumes) -> rows (clean-test accuracy of the model each attacker keeps: the attacker with
only the release, who holds out ``validation_fraction`` of it, stratified by class, and keeps the
model best there; the attacker who early-stops on clean data; and the last model; mean and sd over
seeds, against chance) -> ``results.json`` and ``results.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from medue.class_datasets import class_names, discover_classified
from medue.errors import InputError
from medue.evaluate.classifier_victim import Sample, train_victim
from medue.evaluate.runs import ResultStore, RunSpec, plan_runs
from medue.io import read_volume
from medue.io.atomic import atomic_path
from medue.job.outputs import fingerprint
from medue.methods.base import (
    CancelToken,
    NeverCancelled,
    ProgressCallback,
    check_cancel,
    no_progress,
)
from medue.networks.classifier import ARCHITECTURES

CLASSIFIER_VICTIMS = ARCHITECTURES
"""The victims ``medue evaluate`` trains on a classification release: every MONAI classifier."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassificationSettings:
    """Which victims, countermeasures, seeds and how long they train."""

    victims: tuple[str, ...] = CLASSIFIER_VICTIMS
    countermeasures: tuple[str, ...] = ("none",)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 20
    batch_size: int = 16
    test_fraction: float = 0.25  # without a test folder: the clean images held out per class
    split_seed: int = 0
    validation_fraction: float = 0.2  # of each training source, per class and victim seed: what
    # the attacker with only the release holds out to keep its model (0: its last model)


@dataclass
class ClassSet:
    """A classification dataset read from disk: samples, their ids and the class names."""

    samples: list[Sample]
    ids: list[str]
    names: tuple[str, ...]
    digest: str

    @property
    def spatial_dims(self) -> int:
        return self.samples[0].image.ndim

    def subset(self, ids: set[str], keep: bool = True) -> ClassSet:
        """The images whose id is (``keep``) or is not in ``ids``."""
        chosen = [i for i, image_id in enumerate(self.ids) if (image_id in ids) == keep]
        digest = hashlib.sha256(f"{self.digest}|{sorted(ids)}|{keep}".encode()).hexdigest()[:16]
        return ClassSet([self.samples[i] for i in chosen], [self.ids[i] for i in chosen],
                        self.names, digest)  # fmt: skip


def hold_out(data: ClassSet, fraction: float, seed: int) -> set[str]:
    """Ids of ``fraction`` of each class's images (at least one, never all), chosen by ``seed``.

    Raises ``InputError`` when a class has fewer than two images (nothing left to train on)."""
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for index, name in enumerate(data.names):
        members = sorted(i for i, s in zip(data.ids, data.samples, strict=True) if s.label == index)
        if len(members) < 2:
            raise InputError(None, f"class {name!r} has {len(members)} image(s): too few to hold "
                             "one out for testing; give a clean test folder")  # fmt: skip
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held.update(rng.choice(members, size=count, replace=False).tolist())
    return held


def read_class_set(folder: Path, names: Sequence[str] | None = None) -> ClassSet:
    """Every usable image of ``folder`` with its class index in ``names`` (default: its own
    classes). Images the dataset refuses (a missing or unreadable file, a conflicting row: the
    ones ``medue protect`` names and leaves out of a release) are left out with a warning; the
    caller checks that the release holds exactly the clean images that remain."""
    cases = discover_classified(folder)
    for case in cases:
        if case.problem:
            log.warning("left out of the evaluation: %s: %s", case.image, case.problem)
    cases = [case for case in cases if not case.problem]
    if not cases:
        raise InputError(folder, "no usable images")
    names = tuple(names or class_names(cases))
    samples, ids, digest = [], [], hashlib.sha256()
    for case in cases:
        if case.category not in names:
            raise InputError(case.image, f"class {case.category!r} is not one of {list(names)}")
        try:
            array = np.squeeze(read_volume(case.image).array)
        except InputError as error:
            log.warning("left out of the evaluation: %s", error)
            continue
        samples.append(Sample(array, names.index(case.category)))
        ids.append(case.image_id)
        digest.update(f"{case.image_id}|{case.category}|{fingerprint(case.image)}".encode())
    if not samples:
        raise InputError(folder, "no readable images")
    return ClassSet(samples, ids, names, digest.hexdigest()[:16])


def evaluate_classification(
    clean: Path,
    protected: Path,
    test: Path | None,
    output: Path,
    settings: ClassificationSettings,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    store: Path | None = None,
) -> dict:
    """Train every victim on ``clean`` and on ``protected`` (same images, same classes), test on
    the clean ``test`` folder, or without one on ``settings.test_fraction`` of the clean images of
    each class, held out of both training sets; write ``output/results.{json,md}``. Each victim
    also holds out ``settings.validation_fraction`` of its training images (the same images of the
    clean and of the protected copy, both sorted by id) for the attacker with only the release
    (``medue.evaluate.classifier_victim``). Finished runs
    are kept in ``store`` (default ``output/runs.json``): several releases of one dataset can share
    one, so the clean victims train once."""
    cancel = cancel or NeverCancelled()
    sets = {"clean": read_class_set(clean)}
    sets["protected"] = read_class_set(protected, sets["clean"].names)
    if sorted(sets["clean"].ids) != sorted(sets["protected"].ids):
        raise InputError(protected, "does not hold the same images as the clean dataset")
    if test is not None:
        test_set = read_class_set(test, sets["clean"].names)
    else:
        held_out = hold_out(sets["clean"], settings.test_fraction, settings.split_seed)
        test_set = sets["clean"].subset(held_out)
        sets = {source: data.subset(held_out, keep=False) for source, data in sets.items()}
    store = ResultStore(store or output / "runs.json")
    runs = plan_runs(
        list(settings.victims), list(settings.countermeasures), list(settings.seeds),
        settings.epochs,
    )  # fmt: skip
    shape = _common_shape([*sets["clean"].samples, *sets["protected"].samples, *test_set.samples])
    for index, spec in enumerate(runs):
        check_cancel(cancel)
        key = _key(sets[spec.source], test_set, settings)
        if store.get(spec, key) is None:
            run = train_victim(
                sets[spec.source].samples, test_set.samples, spec.victim, spec.seed,
                spec.epochs, settings.batch_size, countermeasure=spec.countermeasure,
                spatial_dims=test_set.spatial_dims, num_classes=len(test_set.names), shape=shape,
                validation_fraction=settings.validation_fraction,
            )  # fmt: skip
            store.put(spec, key, run.as_dict())
        progress("evaluate", index + 1, len(runs))
    results = {
        "settings": asdict(settings),
        "classes": list(test_set.names),
        "train_images": len(sets["clean"].samples),
        "test_images": len(test_set.samples),
        "rows": summarise(store, runs, sets, test_set, settings),
    }
    write_results(output, results)
    return results


def _key(data: ClassSet, test_set: ClassSet, settings: ClassificationSettings) -> str:
    """A run's data key: its training and test images, and the share it validates on."""
    return f"{data.digest}|{test_set.digest}|validation={settings.validation_fraction:g}"


def _common_shape(samples: list[Sample]) -> tuple[int, ...]:
    dims = samples[0].image.ndim
    return tuple(max(s.image.shape[i] for s in samples) for i in range(dims))


def summarise(
    store: ResultStore,
    runs: list[RunSpec],
    sets: dict,
    test_set: ClassSet,
    settings: ClassificationSettings,
) -> list:
    """One row per victim and countermeasure: clean and protected side by side."""
    rows = []
    for victim, countermeasure in dict.fromkeys((r.victim, r.countermeasure) for r in runs):
        row = {"victim": victim, "countermeasure": countermeasure}
        for source in ("clean", "protected"):
            key = _key(sets[source], test_set, settings)
            found = [
                store.get(spec, key)
                for spec in runs
                if (spec.source, spec.victim, spec.countermeasure)
                == (source, victim, countermeasure)
            ]
            row[source] = _stats([f for f in found if f is not None])
        row["chance"] = 1.0 / len(test_set.names)
        rows.append(row)
    return rows


def _stats(runs: list[dict]) -> dict:
    def pair(key: str) -> list[float]:
        values = [run[key] for run in runs]
        return [float(np.mean(values)), float(np.std(values))]

    runs = sorted(runs, key=lambda run: run["seed"])
    keys = ("release_only_accuracy", "release_only_balanced_accuracy", "best_accuracy",
            "best_balanced_accuracy", "final_accuracy", "final_balanced_accuracy")  # fmt: skip
    return {"seeds": len(runs), **{key: pair(key) for key in keys}} | {
        "seed_numbers": [run["seed"] for run in runs],
        "release_only_accuracy_per_seed": [run["release_only_accuracy"] for run in runs],
        "best_accuracy_per_seed": [run["best_accuracy"] for run in runs],
        "worst_seed_release_only_accuracy": max(run["release_only_accuracy"] for run in runs),
        "worst_seed_best_accuracy": max(run["best_accuracy"] for run in runs),
    }


def write_results(output: Path, results: dict) -> None:
    """``results.json`` and a Markdown table a person reads (``results.md``)."""
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    lines = [
        f"Classes: {', '.join(results['classes'])} (chance {1 / len(results['classes']):.2f}); "
        f"{results['train_images']} training images, {results['test_images']} clean test images.",
        "",
        "Clean-test accuracy of the model each attacker keeps: the attacker with only the release "
        "holds out a share of it (validation) and keeps the model best there; the attacker who "
        "early-stops on clean data keeps the epoch best on the clean test images; worst seed: the "
        "highest over seeds.",
        "",
        "| victim | countermeasure | clean acc, release-only attacker | protected acc, "
        "release-only attacker | worst seed | clean acc, early-stops on clean | protected acc, "
        "early-stops on clean | worst seed | protected balanced acc, early-stops on clean | "
        "protected acc, last model |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        clean, prot = row["clean"], row["protected"]
        lines.append(
            f"| {row['victim']} | {row['countermeasure']} | "
            f"{_pm(clean['release_only_accuracy'])} | {_pm(prot['release_only_accuracy'])} | "
            f"{prot['worst_seed_release_only_accuracy']:.3f} | {_pm(clean['best_accuracy'])} | "
            f"{_pm(prot['best_accuracy'])} | {prot['worst_seed_best_accuracy']:.3f} | "
            f"{_pm(prot['best_balanced_accuracy'])} | {_pm(prot['final_accuracy'])} |"
        )
    with atomic_path(output / "results.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def _pm(pair: list[float]) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"
