"""``medue evaluate``'s engine: victims trained on a protected copy and on the clean original,
both tested on clean held-out cases, with the attacker's countermeasures.

Data flows one way: dataset folders -> split by patient -> training/test material read from the
files (what an attacker would download) -> victim runs (resumable) -> summary rows -> report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from medue.datasets import Case, discover_cases, load_case
from medue.errors import InputError
from medue.evaluate.runs import ResultStore, RunSpec, plan_runs
from medue.evaluate.slices import load_slices
from medue.evaluate.split import Split, split_by_patient
from medue.evaluate.victim import VictimConfig, train_victim
from medue.job.apply import measure_change
from medue.job.outputs import fingerprint
from medue.methods.base import (
    CancelToken,
    NeverCancelled,
    ProgressCallback,
    check_cancel,
    no_progress,
)

VICTIMS_3D = ("unet3d",)


@dataclass(frozen=True)
class EvaluationSettings:
    """Which victims, countermeasures and seeds; how the clean data is split."""

    victims: tuple[str, ...] = ("unet", "segresnet")
    countermeasures: tuple[str, ...] = ("none",)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 10
    test_fraction: float = 0.25
    test_cases: tuple[str, ...] = ()
    split_seed: int = 0
    validation_fraction: float = 0.2  # of the training images: the release-only attacker's
    # validation split (``medue.evaluate.victim.hold_out``)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Material:
    """Where each side's training files and the clean test files are."""

    folders: dict[str, Path]  # source -> dataset folder ("clean", "protected")
    test_folder: Path
    split: Split
    fingerprints: dict[str, str] = field(default_factory=dict)
    num_classes: int = 2


def gather_material(
    clean: Path, protected: Path, settings: EvaluationSettings, test_folder: Path | None = None
) -> Material:
    """Split the clean cases (or use ``test_folder``) and check the protected copy has them all."""
    clean_cases = discover_cases(clean)
    if test_folder is None:
        split = split_by_patient(
            clean_cases, settings.test_fraction, settings.split_seed, settings.test_cases
        )
    else:
        test_ids = tuple(case.image_id for case in discover_cases(test_folder))
        split = Split(train=tuple(case.image_id for case in clean_cases), test=test_ids)
    protected_cases = {case.image_id: case for case in discover_cases(protected)}
    missing = [i for i in split.train if i not in protected_cases]
    if missing:
        raise InputError(protected, f"protected copy lacks training case(s): {', '.join(missing)}")
    by_id = {case.image_id: case for case in clean_cases}
    material = Material({"clean": clean, "protected": protected}, test_folder or clean, split)
    test_cases = discover_cases(test_folder) if test_folder is not None else clean_cases
    tested = _fingerprint([case for case in test_cases if case.image_id in set(split.test)])
    material.fingerprints = {  # a run is only reused for the same training AND test files
        "clean": f"{_fingerprint([by_id[i] for i in split.train])}|test={tested}",
        "protected": f"{_fingerprint([protected_cases[i] for i in split.train])}|test={tested}",
    }
    material.num_classes = _num_classes([by_id[i] for i in split.train])
    return material


def imperceptibility(material: Material) -> dict:
    """PSNR/SSIM/max change of the protected training images against the clean ones, from files."""
    clean = {case.image_id: case for case in discover_cases(material.folders["clean"])}
    protected = {case.image_id: case for case in discover_cases(material.folders["protected"])}
    per_case = {}
    for image_id in material.split.train:
        original = load_case(clean[image_id]).image.array
        changed = load_case(protected[image_id]).image.array
        if original.shape != changed.shape:
            raise InputError(protected[image_id].image, "protected image has another grid")
        per_case[image_id] = measure_change(original, changed)
    psnrs = [m["psnr_db"] for m in per_case.values() if np.isfinite(m["psnr_db"])]
    return {
        "psnr_db_mean": float(np.mean(psnrs)) if psnrs else float("inf"),
        "psnr_db_min": float(np.min(psnrs)) if psnrs else float("inf"),
        "ssim_mean": float(np.mean([m["ssim"] for m in per_case.values()])),
        "max_abs_change": float(max(m["max_abs_change"] for m in per_case.values())),
        "per_case": per_case,
    }


def run_victims(
    material: Material,
    settings: EvaluationSettings,
    store: ResultStore,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[dict]:
    """Every planned run, reusing stored ones; returns the records in plan order."""
    cancel = cancel or NeverCancelled()
    specs = plan_runs(
        list(settings.victims), list(settings.countermeasures), list(settings.seeds),
        settings.epochs,
    )  # fmt: skip
    loader = _MaterialLoader(material)
    records = []
    for done, spec in enumerate(specs):
        check_cancel(cancel)
        fp = material.fingerprints[spec.source]
        if store.get(spec, fp) is None:
            record = _train_one(spec, loader, material.num_classes, settings.validation_fraction)
            store.put(spec, fp, record)
        records.append(store.get(spec, fp))
        progress("victims", done + 1, len(specs))
    return records


def _train_one(
    spec: RunSpec, loader: _MaterialLoader, num_classes: int, validation_fraction: float
) -> dict:
    config = VictimConfig(
        architecture="unet" if spec.victim in VICTIMS_3D else spec.victim,
        epochs=spec.epochs,
        seed=spec.seed,
        num_classes=num_classes,
        countermeasure=spec.countermeasure,
        validation_fraction=validation_fraction,
    )
    if spec.victim in VICTIMS_3D:
        from medue.evaluate.victim3d import train_victim_3d  # noqa: PLC0415 - only when asked

        train, test = loader.volumes(spec.source), loader.volumes("test")
        return train_victim_3d(train, test, config).as_dict()
    return train_victim(loader.slices(spec.source), loader.slices("test"), config).as_dict()


class _MaterialLoader:
    """Reads each side's slices or volumes once, on first use."""

    def __init__(self, material: Material) -> None:
        self.material = material
        self.cache: dict[tuple[str, str], object] = {}

    def _where(self, side: str) -> tuple[Path, tuple[str, ...]]:
        if side == "test":
            return self.material.test_folder, self.material.split.test
        return self.material.folders[side], self.material.split.train

    def slices(self, side: str):
        if ("2d", side) not in self.cache:
            folder, ids = self._where(side)
            self.cache["2d", side] = load_slices(folder, ids=set(ids))
        return self.cache["2d", side]

    def volumes(self, side: str):
        from medue.evaluate.volumes import load_volumes  # noqa: PLC0415 - only for 3D victims

        if ("3d", side) not in self.cache:
            folder, ids = self._where(side)
            self.cache["3d", side] = load_volumes(folder, ids=set(ids))
        return self.cache["3d", side]


def _fingerprint(cases: Sequence[Case]) -> str:
    digest = hashlib.sha256()
    for case in cases:
        digest.update(case.image_id.encode())
        digest.update(fingerprint(case.image).encode())
    return digest.hexdigest()[:16]


def _num_classes(cases: Sequence[Case]) -> int:
    highest = 1
    for case in cases:
        label = load_case(case, require_label=True).label
        highest = max(highest, int(label.max()))
    return highest + 1


def evaluate_release(
    clean: Path,
    protected: Path,
    out: Path,
    settings: EvaluationSettings,
    test_folder: Path | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    store: ResultStore | None = None,
) -> dict:
    """The whole evaluation; finished victim runs in ``out/runs.json`` (or ``store``, which
    several evaluations of one clean dataset may share) are reused."""
    from medue.evaluate.outputs import write_outputs  # noqa: PLC0415 - keeps matplotlib lazy

    material = gather_material(Path(clean), Path(protected), settings, test_folder)
    context = {
        "clean": str(clean),
        "protected": str(protected),
        "test_folder": str(material.test_folder),
        "settings": settings.as_dict(),
        "split": material.split.as_dict(),
        "imperceptibility": imperceptibility(material),
    }
    store = store or ResultStore(Path(out) / "runs.json")
    records = run_victims(material, settings, store, progress, cancel)
    return write_outputs(Path(out), context, records)
