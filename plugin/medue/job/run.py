"""Orchestration of a protect job: cases -> prepared -> fitted method -> protected files + records.

One direction only: nothing computed later is fed back to an earlier step. A case that fails to
load, prepare or write (for any reason, expected or not) is recorded with its file and skipped;
the others go on, and the manifest and report are written whatever happened. Progress is
reported per phase ("prepare", "fit", "apply"); the cancel token is checked between cases and
between fit steps, and every file is written atomically, so a cancelled job leaves no partial
output.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from medue import __version__
from medue.batch import Failure
from medue.budget import ROBUST_PRESET, BudgetRequest
from medue.class_datasets import class_names as ordered_classes
from medue.datasets import Case, LoadedCase, load_case
from medue.errors import InputError
from medue.intensity import default_window
from medue.io.atomic import atomic_path, remove_leftovers
from medue.job.apply import CaseResult
from medue.job.apply_cases import apply_cases
from medue.job.check import CHECK_FOLDER, CheckSettings, check_release
from medue.job.outputs import (
    CLASS_TABLE,
    REPORT_FOLDER,
    check_output_folder,
    fingerprint,
    write_class_table,
)
from medue.job.record import ReleaseRecord
from medue.job.resume import FinishedCases, job_key
from medue.methods import (
    CLASSIFICATION_METHODS,
    DEFAULT_METHOD,
    JSON_METHODS,
    FitOptions,
    fit_method,
)
from medue.methods.base import (
    CancelToken,
    NeverCancelled,
    Perturber,
    ProgressCallback,
    check_cancel,
    no_progress,
)
from medue.methods.salm import changed_fraction
from medue.prepare import PreparedCase, RoiSpec, prepare_case, prepare_classified
from medue.reference import benchmark_reference
from medue.report import write_html

ANISOTROPY_FOR_2D = 2.5


@dataclass(frozen=True)
class ProtectSettings:
    """Everything a user chooses for a protect job (recorded whole in the manifest)."""

    method: str = DEFAULT_METHOD
    roi: RoiSpec = field(default_factory=RoiSpec)
    budget: BudgetRequest = field(default_factory=BudgetRequest)
    ct_window: str = "soft_tissue"
    mode: str = "auto"
    iterations: int | None = None
    seed: int = 0
    check: CheckSettings | None = None  # a victim check of the written release (--check)
    top_k: float | None = None  # SALM: the share of each image's voxels changed (None: default)

    @property
    def classification(self) -> bool:
        """Whether the method protects a classification dataset (one class per image)."""
        return self.method in CLASSIFICATION_METHODS

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PreparedDataset:
    """Cases that loaded and prepared cleanly, and the ones that did not."""

    pairs: list[tuple[LoadedCase, PreparedCase]]
    failures: list[Failure]
    class_values: tuple[int, ...]
    mode: str
    class_names: tuple[str, ...] = ()  # classification: the classes, in index order


@dataclass
class ProtectOutcome:
    output: Path
    manifest: Path
    report: Path
    results: list[CaseResult]
    failures: list[Failure]
    checked: dict | None = None  # medue.job.check's section, when the job ran one


def prepare_dataset(
    cases: list[Case],
    settings: ProtectSettings,
    class_values: tuple[int, ...] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    class_names: tuple[str, ...] | None = None,
) -> PreparedDataset:
    """Load and prepare every case; the labels give the classes unless ``class_values`` does
    (classification: the cases' categories, unless ``class_names`` does)."""
    cancel = cancel or NeverCancelled()
    loaded, failures = [], []
    needs_label = settings.roi.box is None and not settings.classification
    for index, case in enumerate(cases):
        check_cancel(cancel)
        try:
            if settings.classification and case.problem is None and case.category is None:
                raise InputError(case.image, "has no class (give a CSV or one folder per class)")
            loaded.append(load_case(case, require_label=needs_label))
        except Exception as error:  # recorded for this case; re-raises a cancel
            failures.append(Failure.from_error(error, case.image))
        progress("prepare", index + 1, len(cases) * 2)
    values = class_values or _label_values(loaded, settings.roi)
    names = class_names or ordered_classes([item.case for item in loaded])
    pairs = []
    for index, item in enumerate(loaded):
        check_cancel(cancel)
        try:
            window = default_window(item.image.array, item.image.modality, settings.ct_window)
            if settings.classification:
                fraction = changed_fraction(settings.method, settings.top_k)
                prepared = prepare_classified(item, settings.budget, window, names, fraction)
            else:
                prepared = prepare_case(item, settings.roi, settings.budget, window, values)
            pairs.append((item, prepared))
        except Exception as error:
            failures.append(Failure.from_error(error, item.case.image, "preparing"))
        progress("prepare", len(cases) + index + 1, len(cases) * 2)
    mode = _choose_mode(settings.mode, loaded)
    return PreparedDataset(
        pairs, failures, tuple(values), mode, names if settings.classification else ()
    )


def fit_prepared(
    dataset: PreparedDataset,
    settings: ProtectSettings,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Perturber:
    if not dataset.pairs:
        reasons = "; ".join(str(failure) for failure in dataset.failures[:5]) or "no cases"
        raise InputError(None, f"no usable cases to fit on: {reasons}")
    options = FitOptions(
        mode=dataset.mode,
        iterations=settings.iterations,
        seed=settings.seed,
        class_values=dataset.class_values,
        robust=settings.budget.preset == ROBUST_PRESET,
        class_names=dataset.class_names,
        top_k=settings.top_k,
    )
    prepared = [p for _, p in dataset.pairs]
    return fit_method(settings.method, prepared, options, progress, cancel)


def protect_dataset(
    input_path: Path,
    cases: list[Case],
    output: Path,
    settings: ProtectSettings,
    perturber: Perturber | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ProtectOutcome:
    """Protect ``cases`` into ``output``; fit first unless a fitted ``perturber`` is given."""
    cancel = cancel or NeverCancelled()
    if perturber is not None:  # the saved method is what runs, with the K it was fitted for
        top_k = getattr(perturber, "top_k", settings.top_k)
        settings = replace(settings, method=perturber.method, top_k=top_k)
    input_path, output = input_path.absolute(), output.absolute()
    check_output_folder(input_path, output)
    release = ReleaseRecord.open(input_path, output)
    remove_leftovers(output)  # half-written files of a killed run (never a finished copy)
    started = time.time()
    class_values = perturber.class_values if perturber is not None else None
    names = getattr(perturber, "class_names", None) or None
    dataset = prepare_dataset(cases, settings, class_values or None, progress, cancel, names)
    results, failures, generator_path = [], list(dataset.failures), None
    if not dataset.pairs:  # nothing to fit on or protect: the record still says what failed
        perturber = None
    elif perturber is None:
        perturber = fit_prepared(dataset, settings, progress, cancel)
    if perturber is not None:
        generator_path = _save_generator(perturber, output)
        key = job_key(settings.as_dict(), fingerprint(generator_path))
        results, apply_failures = apply_cases(
            input_path, output, dataset.pairs, perturber, release,
            FinishedCases.open(output, key), progress, cancel,
            show_mask=settings.classification,
        )  # fmt: skip
        failures += apply_failures
        if settings.classification:
            _write_class_table(output, results, release)
    record = _manifest(
        input_path, output, settings, perturber, generator_path, results, failures, release
    )
    record["removed_stale"] = release.remove_stale()
    record["started"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started))
    record["checked_against"] = None
    manifest, report = _write_record(output, settings, record)
    if settings.check is not None and results:  # the release is complete: a cancel loses nothing
        record["checked_against"] = check_release(
            input_path, output, output / REPORT_FOLDER / CHECK_FOLDER, settings.check,
            progress, cancel,
        )  # fmt: skip
        manifest, report = _write_record(output, settings, record)
    protected = [r for r, _, _ in results]
    return ProtectOutcome(output, manifest, report, protected, failures, record["checked_against"])


def _write_class_table(output: Path, results: list, release: ReleaseRecord) -> None:
    release.check_target(output / CLASS_TABLE, [Path(CLASS_TABLE)])
    entries = [(Path(result.output), case.category) for result, case, _ in results]
    release.add(write_class_table(output, entries))


def _write_record(output: Path, settings: ProtectSettings, record: dict) -> tuple[Path, Path]:
    """manifest.json and report.html from the job's record."""
    manifest = _write_json(output / REPORT_FOLDER / "manifest.json", record)
    report = write_html(
        output / REPORT_FOLDER / "report.html",
        f"MedUE protection report: {settings.method}",
        {"settings": settings.as_dict(), "summary": record["summary"]},
        record["cases"],
        record["failed"],
        record["checked_against"],
        benchmark_reference(settings.method, settings.budget.preset),
        left_out=record["left_out"],
    )
    return manifest, report


def _save_generator(perturber: Perturber, output: Path) -> Path:
    suffix = ".json" if perturber.method in JSON_METHODS else ".pt"
    return perturber.save(output / REPORT_FOLDER / f"generator{suffix}")


def _manifest(
    input_path, output, settings, perturber, generator_path, results, failures, release
) -> dict:
    cases = []
    for result, case, figure in results:
        entry = result.as_dict()
        entry["input_sha256"] = fingerprint(case.image)
        entry["output_sha256"] = release.sha256(Path(result.output))
        entry["figure"] = str(figure.relative_to(output / REPORT_FOLDER))
        cases.append(entry)
    return {
        "medue_version": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "input": str(input_path.resolve()),
        "output": str(output),
        "settings": settings.as_dict(),
        "method": perturber.describe() if perturber is not None else None,
        "generator": (
            {"path": str(generator_path), "sha256": fingerprint(generator_path)}
            if generator_path is not None
            else None
        ),
        "cases": cases,
        "failed": [{"source": f.source, "problem": f.problem} for f in failures if not f.skipped],
        "left_out": [{"source": f.source, "why": f.problem} for f in failures if f.skipped],
        "summary": _summary(cases),
    }


def _summary(cases: list[dict]) -> dict:
    if not cases:
        return {"protected": 0}
    psnr = [c["metrics"]["psnr_db"] for c in cases]
    ssim = [c["metrics"]["ssim"] for c in cases]
    seen = {
        f"{key}_{how.__name__}": float(how([c["metrics"][key] for c in cases]))
        for key, how in (("epsilon_over_sigma", max), ("psnr_roi_db", min))
        if all(key in c["metrics"] for c in cases)
    }
    return seen | {
        "protected": len(cases),
        "psnr_db_mean": float(np.mean(psnr)),
        "psnr_db_min": float(np.min(psnr)),
        "ssim_mean": float(np.nanmean(ssim)),
        "ssim_min": float(np.nanmin(ssim)),
    }


def _write_json(path: Path, data: dict) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))
    return path


def _label_values(loaded: list[LoadedCase], roi: RoiSpec) -> tuple[int, ...]:
    if roi.label_values:
        return tuple(roi.label_values)
    values: set[int] = set()
    for item in loaded:
        if item.label is not None:
            values.update(int(v) for v in np.unique(item.label) if v)
    return tuple(sorted(values)) or (1,)


def _choose_mode(requested: str, loaded: list[LoadedCase]) -> str:
    """2D for 2D images and thick-slice volumes; 3D only when every volume is near-isotropic."""
    if requested in ("2d", "3d"):
        return requested
    if requested != "auto":
        raise InputError(None, f"unknown mode {requested!r} (choose auto, 2d or 3d)")
    for item in loaded:
        spacing = item.image.geometry.spacing
        if len(spacing) == 2 or spacing[2] > ANISOTROPY_FOR_2D * min(spacing[:2]):
            return "2d"
    return "3d" if loaded else "2d"
