"""Orchestration of a protect job: scan the cases, fit on a sample, protect case by case, record.

One direction only: nothing computed later is fed back to an earlier step. The job never holds
more than the fitting sample and one case in memory: a scan reads each case once for what the
whole dataset decides (``medue.job.scan``), the method is fitted on a bounded sample drawn from
the seed (``medue.job.sample``), then each case is read, prepared, protected, written, verified
and dropped before the next (``medue.job.apply_cases``). The release folder receives only what
may be published (the copies, their labels, the public description ``medue.release``); the
owner's record (key, fitted method, manifest, report, journals, restoration data) goes to the
private folder (``medue.job.private``), owner-only. A case that fails to load, prepare or
write (for any reason, expected or not) is recorded with its file and skipped; the others go on,
and the manifest and report are written whatever happened. Progress is reported per phase
("prepare": the scan and the sample; "fit"; "apply"); the cancel token is checked between cases
and between fit steps, and every file is written atomically, so a cancelled job leaves no partial
output. The victim check of a written release is the caller's next step
(``medue.job.check.check_written_release``), not part of the job.

Under torchrun (``medue.distributed``) every rank scans and prepares the sample; UMed fits
with its gradients averaged across ranks, any other method is fitted by rank 0; rank 0 saves the
fitted method and every other rank loads that file, so all apply the same perturbation. Each rank
protects its shard of the cases (``cases[rank::world]``) with its own journals; rank 0 gathers
the others' results and alone writes the manifest and the report, in the single-process order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import count
from pathlib import Path

from medue import distributed
from medue.batch import Failure
from medue.budget import ROBUST_PRESET
from medue.datasets import Case, LoadedCase
from medue.errors import InputError
from medue.io.atomic import remove_leftovers
from medue.job.apply import CaseResult
from medue.job.apply_cases import apply_cases
from medue.job.manifest import MANIFEST, REPORT, build_manifest, earlier_check, write_record
from medue.job.outputs import CLASS_TABLE, check_output_folder, fingerprint, write_class_table
from medue.job.private import (
    check_private_folder,
    dataset_key,
    default_private,
    open_private,
    restrict,
)
from medue.job.reading import prepare_read, read_case
from medue.job.record import ReleaseRecord
from medue.job.resume import FinishedCases, job_key
from medue.job.sample import draw_sample, planned_size
from medue.job.scan import DatasetSummary, scan_dataset
from medue.job.settings import FIT_VOXELS, ProtectSettings
from medue.keys import KEY_FILE, commit, read_key_file
from medue.methods import (
    DATA_PARALLEL_METHODS,
    JSON_METHODS,
    FitOptions,
    fit_method,
    load_perturber,
)
from medue.methods.base import (
    CancelToken,
    NeverCancelled,
    Perturber,
    ProgressCallback,
    check_cancel,
    no_progress,
)
from medue.prepare import PreparedCase
from medue.release import write_release_description


@dataclass
class PreparedDataset:
    """A dataset ready to fit on and protect: the cases to protect (every case that loaded and,
    if sampled, prepared), the fitting sample prepared, and what the whole dataset decides."""

    cases: list[Case]
    sample: list[PreparedCase]  # the fitting sample, in the dataset's order ([]: no fit on images)
    failures: list[Failure]
    class_values: tuple[int, ...]
    mode: str
    class_names: tuple[str, ...] = ()  # classification: the classes, in index order

    @property
    def sample_ids(self) -> list[str]:
        return [case.image_id for case in self.sample]


@dataclass
class ProtectOutcome:
    output: Path
    manifest: Path
    report: Path
    results: list[CaseResult]
    failures: list[Failure]
    fit_cases: list[str] = field(default_factory=list)  # image ids the method was fitted on
    private: Path | None = None  # the owner's private folder (key, manifest, report, ...)


def prepare_dataset(
    cases: list[Case],
    settings: ProtectSettings,
    class_values: tuple[int, ...] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    class_names: tuple[str, ...] | None = None,
    fit: bool = True,
) -> PreparedDataset:
    """Scan every case (``medue.job.scan``: label values, mode, classes, which cases load), then
    load and prepare the fitting sample (``medue.job.sample``; only when ``fit`` and the method
    fits on images). ``class_values`` / ``class_names`` (a saved method's) replace the dataset's.
    Memory: the sample's prepared arrays plus one case being read."""
    cancel = cancel or NeverCancelled()
    fit = fit and settings.fits_on_images
    bound = min(settings.fit_cases or len(cases), len(cases)) if fit else 0
    summary = scan_dataset(
        cases, settings, class_values, class_names, progress, cancel, len(cases) + bound
    )
    sample, failures = _prepare_sample(summary, settings, progress, cancel) if fit else ({}, {})
    return PreparedDataset(
        cases=[case for case in summary.cases if case.image not in failures],
        sample=list(sample.values()),
        failures=summary.failures + list(failures.values()),
        class_values=summary.class_values,
        mode=summary.mode,
        class_names=summary.class_names,
    )


def _prepare_sample(
    summary: DatasetSummary,
    settings: ProtectSettings,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> tuple[dict[int, PreparedCase], dict[Path, Failure]]:
    """The drawn cases prepared (by index into ``summary.cases``), and the failures by image."""
    classes = [case.category for case in summary.cases] if settings.classification else None
    bounds = (settings.fit_cases, FIT_VOXELS, classes)
    scanned = len(summary.cases) + len(summary.failures)
    steps = scanned + planned_size(summary.voxels, settings.seed, *bounds)
    ticks = count(scanned + 1)
    failures: dict[Path, Failure] = {}

    def prepare(index: int) -> PreparedCase | None:
        check_cancel(cancel)
        case, prepared = summary.cases[index], None
        try:
            _, prepared = read_and_prepare(
                case, settings, summary.class_values, summary.class_names
            )
        except Exception as error:  # recorded for this case; re-raises a cancel
            failures[case.image] = Failure.from_error(error, case.image, "preparing")
        done = next(ticks)
        progress("prepare", done, max(steps, done))
        return prepared

    sample = draw_sample(summary.voxels, settings.seed, prepare, *bounds)
    return dict(sample), failures


def read_and_prepare(
    case: Case,
    settings: ProtectSettings,
    class_values: tuple[int, ...],
    class_names: tuple[str, ...],
) -> tuple[LoadedCase, PreparedCase]:
    """Read ``case`` and prepare it as the job does (``medue.job.reading``)."""
    loaded = read_case(case, settings)
    return loaded, prepare_read(loaded, settings, class_values, class_names)


def fit_prepared(
    dataset: PreparedDataset,
    settings: ProtectSettings,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    key: bytes | None = None,
) -> Perturber:
    """Fit ``settings.method`` on ``dataset.sample`` with the dataset's secret ``key``; raises
    ``InputError`` when there is nothing to fit on (no case loaded, or none of the sample
    prepared)."""
    if not dataset.cases or (settings.fits_on_images and not dataset.sample):
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
        key=key,
        reference_class=settings.reference_class,
    )
    return fit_method(settings.method, dataset.sample, options, progress, cancel)


def protect_dataset(
    input_path: Path,
    cases: list[Case],
    output: Path,
    settings: ProtectSettings,
    perturber: Perturber | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    private: Path | None = None,
    key_file: Path | None = None,
) -> ProtectOutcome:
    """Protect ``cases`` into the release folder ``output`` and the owner's ``private`` folder
    (default ``OUT.private``, ``medue.job.private``); fit first (on the sample) unless a fitted
    ``perturber`` is given. The secret key is the private folder's (a resumed run), else
    ``key_file``'s, else a new one. ``settings.check`` is recorded, not run (see the module
    docstring)."""
    cancel = cancel or NeverCancelled()
    ranks = distributed.ranks()
    if perturber is not None:  # the saved method is what runs, with the K it was fitted for
        top_k = getattr(perturber, "top_k", settings.top_k)
        settings = replace(settings, method=perturber.method, top_k=top_k)
    input_path, output = input_path.absolute(), output.absolute()
    private = Path(private).absolute() if private is not None else default_private(output)
    check_output_folder(input_path, output)
    check_private_folder(input_path, output, private)
    release = ReleaseRecord.open(input_path, output, private, ranks.rank)
    if ranks.main:
        remove_leftovers(output)  # half-written files of a killed run (never a finished copy)
        remove_leftovers(open_private(private))
        dataset_key(private, key_file)
    distributed.barrier()  # every rank has read the journals before any writes
    secret = read_key_file(private / KEY_FILE)
    started = time.time()
    resumed = _fitted_earlier(private, settings) if perturber is None else None
    if resumed is not None:
        perturber, generator_path = resumed
    class_values = perturber.class_values if perturber is not None else None
    names = getattr(perturber, "class_names", None) or None
    fitted = perturber is None
    dataset = prepare_dataset(
        cases, settings, class_values or None, progress, cancel, names, fit=fitted
    )
    results, failures = [], list(dataset.failures)
    generator_path = resumed[1] if resumed is not None else None
    fit_ids = dataset.sample_ids if fitted else []
    if not dataset.cases:  # nothing to fit on or protect: the record still says what failed
        perturber = None
    elif fitted:
        perturber = _fit_on_rank(dataset, settings, ranks, progress, cancel, secret)
    dataset.sample = []  # the fitted method holds what it needs: free the sample before applying
    if dataset.cases:
        if generator_path is None:  # (a resumed job applies the file its cases were made with)
            generator_path = _share_generator(perturber, private, ranks)
            if fitted and not ranks.main:  # exactly what rank 0 fitted and saved
                perturber = load_perturber(generator_path)
        key = job_key(settings.as_dict(), fingerprint(generator_path))
        prepare = partial(
            read_and_prepare,
            settings=settings,
            class_values=dataset.class_values,
            class_names=dataset.class_names,
        )
        results, apply_failures = apply_cases(
            input_path, output, private, ranks.shard(dataset.cases), prepare, perturber, release,
            FinishedCases.open(private, key, ranks.rank), progress, cancel,
            show_mask=settings.classification,
        )  # fmt: skip
        if ranks.world > 1:
            results, apply_failures = _merge_ranks(dataset.cases, results, apply_failures, release)
        failures += apply_failures
        if settings.classification and ranks.main:
            _write_class_table(output, results, release)
    manifest, report = private / MANIFEST, private / REPORT
    if ranks.main:
        record = build_manifest(
            input_path, output, private, settings, perturber, generator_path, results, failures,
            release, fit_ids,
        )  # fmt: skip
        record["released"] = (  # a folder with no protected image is no release to describe
            _describe_release(output, record, secret, release) if results else None
        )
        record["removed_stale"] = release.remove_stale()
        record["started"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started))
        record["checked_against"] = earlier_check(private, record)
        manifest, report = write_record(private, record)
        restrict(private)
    distributed.barrier()  # no rank leaves before the record is written
    protected = [r for r, _, _ in results]
    return ProtectOutcome(output, manifest, report, protected, failures, fit_ids, private)


def _describe_release(output: Path, record: dict, secret: bytes, release: ReleaseRecord) -> dict:
    """Write the release's public description (``medue.release``), journaled like every file
    MedUE writes there; the private record keeps its files' sha256 and the key's commitment."""

    def journal(target: Path, staged: Path) -> None:
        release.check_target(target, [Path(target.name)])
        release.add(target, fingerprint(staged))

    written = write_release_description(output, record, secret, journal)
    return {
        "key_file": KEY_FILE,
        "key_commitment": commit(secret),
        "files": {name: release.sha256(path) for name, path in written.items()},
    }


def _fit_on_rank(
    dataset: PreparedDataset,
    settings: ProtectSettings,
    ranks: distributed.Ranks,
    progress: ProgressCallback,
    cancel: CancelToken,
    key: bytes,
) -> Perturber | None:
    """Fit on this rank: every rank for a method that trains data-parallel (or fits nothing on
    images), else rank 0 only (None elsewhere: the others load what rank 0 saves)."""
    if ranks.main or settings.method in DATA_PARALLEL_METHODS or not settings.fits_on_images:
        return fit_prepared(dataset, settings, progress, cancel, key)
    return None


def _share_generator(perturber: Perturber | None, private: Path, ranks: distributed.Ranks) -> Path:
    """Rank 0 saves the method into the private folder; every rank gets its path once there."""
    path = _save_generator(perturber, private) if ranks.main else None
    return Path(distributed.broadcast(str(path) if path is not None else None))


def _merge_ranks(
    cases: list[Case], results: list, failures: list[Failure], release: ReleaseRecord
) -> tuple[list, list[Failure]]:
    """Every rank's results and failures, in the order of ``cases`` (as one process would list
    them); rank 0's ``release`` learns what the other ranks wrote."""
    gathered = distributed.gather((results, failures, release.written))
    order = {str(case.image): index for index, case in enumerate(cases)}
    merged_results = [r for rank_results, _, _ in gathered for r in rank_results]
    merged_failures = [f for _, rank_failures, _ in gathered for f in rank_failures]
    for _, _, written in gathered:
        release.written.update(written)
    merged_results.sort(key=lambda item: order[str(item[1].image)])
    merged_failures.sort(key=lambda failure: order.get(str(failure.source), len(order)))
    return merged_results, merged_failures


def _write_class_table(output: Path, results: list, release: ReleaseRecord) -> None:
    target = output / CLASS_TABLE
    release.check_target(target, [Path(CLASS_TABLE)])
    entries = [(Path(result.output), case.category) for result, case, _ in results]
    write_class_table(output, entries, lambda staged: release.add(target, fingerprint(staged)))


def _fitted_earlier(private: Path, settings: ProtectSettings) -> tuple[Perturber, Path] | None:
    """The method an earlier run of this same job fitted and saved, if that run finished at least
    one case with it (its journal's key is these settings and that file's hash): a resumed job
    applies the very method its finished cases were made with, without fitting again."""
    for path in sorted(private.glob("generator.*")):
        key = job_key(settings.as_dict(), fingerprint(path))
        if FinishedCases.open(private, key).entries:
            return load_perturber(path), path
    return None


def _save_generator(perturber: Perturber, private: Path) -> Path:
    suffix = ".json" if perturber.method in JSON_METHODS else ".pt"
    return perturber.save(private / f"generator{suffix}")
