"""Apply a fitted method to every case of a job, one at a time: read, prepare, write, record.

Each case is read and prepared (the caller's ``prepare``), then, in this order:

1. its label map is journaled (``record.ReleaseRecord``) and copied, unless an identical copy is
   already in place;
2. its protected copy is staged and checked; the staged copy is journaled and the case recorded
   finished (``resume.FinishedCases``) with the staged copy's sha256, both synced to disk;
3. the protected copy is moved into place (atomically), and the case's figure drawn;
4. what restores its originals exactly is stored in the private folder (``medue.restore``).

Its arrays are dropped before the next case is read, so memory does not grow with the number of
cases. Because every record is written ahead of the move it describes, a process killed at any
instant leaves only files its records recognise: a case whose copy landed is kept as it is
without being read again (a missing figure is drawn), one whose copy did not land is done again,
and a label already in place is not copied again. A killed job run again thus writes every file
exactly once. One case's failure is recorded with its file and the others go on; a cancel stops
between cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medue.batch import Failure
from medue.datasets import Case, LoadedCase
from medue.figures import case_figure, zoom_figure, zoom_figure_name
from medue.io import Volume, read_volume, volume_files
from medue.job.apply import CaseResult, protect_case
from medue.job.outputs import (
    copy_label,
    fingerprint,
    input_root,
    label_output,
    output_for,
)
from medue.job.record import ReleaseRecord
from medue.job.resume import FinishedCases
from medue.methods.base import CancelToken, Perturber, ProgressCallback, check_cancel
from medue.prepare import PreparedCase
from medue.restore.capture import CaseFiles, capture_case

Prepare = Callable[[Case], tuple[LoadedCase, PreparedCase]]
"""Reads and prepares one case (``medue.job.run.read_and_prepare`` with the job's settings)."""


def apply_cases(
    input_path: Path,
    output: Path,
    private: Path,
    cases: list[Case],
    prepare: Prepare,
    perturber: Perturber,
    release: ReleaseRecord,
    finished: FinishedCases,
    progress: ProgressCallback,
    cancel: CancelToken,
    show_mask: bool = False,
) -> tuple[list, list[Failure]]:
    """Protect each of ``cases`` into the release ``output`` (figures and restoration data into
    ``private``); returns ``[(CaseResult, Case, figure)]`` and the failures, in case order.
    Reports ``("apply", done, len(cases))`` after each case. ``show_mask`` adds the
    changed-voxel panel to each figure (SALM)."""
    root = input_root(input_path)
    job = _Job(root, output, private, prepare, perturber, release, finished, show_mask,
               f"unlearnable-example protection ({perturber.method})")  # fmt: skip
    results, failures = [], []
    for index, case in enumerate(cases):
        check_cancel(cancel)
        kept = finished.finished(case.image_id, case.image)
        try:
            if kept is not None and release.has(kept["output"], kept.get("label")):
                results.append(_keep(kept, case, job))
            else:
                results.append(_protect_one(case, job))
        except _StepFailed as failed:  # recorded for this case; re-raises a cancel
            failures.append(Failure.from_error(failed.error, case.image, failed.step))
        progress("apply", index + 1, len(cases))
    return results, failures


@dataclass(frozen=True)
class _Job:
    """What every case of one apply shares."""

    root: Path
    output: Path
    private: Path
    prepare: Prepare
    perturber: Perturber
    release: ReleaseRecord
    finished: FinishedCases
    show_mask: bool
    derivation: str

    def figure(self, image_id: str) -> Path:
        return self.private / "figures" / f"{image_id}.png"

    def capture(self, case: Case, image_id: str) -> None:
        """Store what restores ``case``'s originals from its copies (``medue.restore``)."""
        files = CaseFiles(case.image, case.label, self.root,
                          output_for(case.image, self.root, self.output),
                          label_output(case, self.root, self.output), self.output)  # fmt: skip
        _step("recording its restoration", capture_case, files, self.private, image_id,
              fingerprint(case.image))  # fmt: skip


def _protect_one(case: Case, job: _Job) -> tuple[CaseResult, Case, Path]:
    """Read, prepare, protect and write one case (records written ahead, see the module
    docstring), then draw its figure; its arrays go when this returns."""
    loaded, prepared = _step("preparing", job.prepare, case)
    target = output_for(case.image, job.root, job.output)
    label_target = label_output(case, job.root, job.output)
    release = job.release
    figure = job.figure(prepared.image_id)

    def record_ahead(result: CaseResult, staged: Path) -> None:
        release.add(target, fingerprint(staged))
        job.finished.add(_finished_entry(result, case, label_target, release, figure))

    def write() -> tuple[CaseResult, Volume]:
        release.check_target(target, volume_files(case.image))
        if label_target is not None:
            release.check_target(label_target, volume_files(case.label))
            _copy_label_once(case, label_target, job)
        try:
            return protect_case(loaded, prepared, job.perturber, target, job.derivation,
                                before_commit=record_ahead)  # fmt: skip
        except BaseException:
            release.forget(target)
            raise

    result, written = _step("writing", write)
    _draw(loaded, prepared, written.array, figure, job.show_mask, result.metrics.get("jnd"))
    job.capture(case, result.image_id)
    return result, case, figure


def _copy_label_once(case: Case, target: Path, job: _Job) -> None:
    """Journal ``case``'s label copy, then copy it unless that very copy is already in place
    (left by a run killed before its image landed)."""
    sha = fingerprint(case.label)
    job.release.add(target, sha)
    if not (target.exists() and fingerprint(target) == sha):
        copy_label(case, job.root, job.output)


def _draw(
    loaded: LoadedCase,
    prepared: PreparedCase,
    written,
    figure: Path,
    show_mask: bool,
    jnd: dict | None = None,
) -> None:
    """The case's figure: original, protected copy (as written) and their difference; with the
    case's ``jnd`` record also the zoomed crops around its most visible patch."""
    image = loaded.image
    monochrome1 = image.metadata.get("photometric_interpretation") == "MONOCHROME1"
    window = prepared.budget.window
    case_figure(
        image.array, written, window, prepared.budget.epsilon_native, figure,
        inverted=monochrome1, show_mask=show_mask,
    )  # fmt: skip
    if jnd is not None and "worst_patch" in jnd:
        zoomed = figure.with_name(zoom_figure_name(figure.name))
        zoom_figure(image.array, written, window, jnd["worst_patch"], zoomed, monochrome1)


def _finished_entry(result, case, label_target, release, figure) -> dict:
    return {
        "image_id": result.image_id,
        "input_sha256": fingerprint(case.image),
        "output": result.output,
        "output_sha256": release.sha256(Path(result.output)),
        "label": str(label_target) if label_target is not None else None,
        "label_sha256": release.sha256(label_target) if label_target is not None else None,
        "figure": str(figure.relative_to(figure.parents[1])),
        "result": result.as_dict(),
    }


def _keep(entry: dict, case: Case, job: _Job) -> tuple:
    """A case an earlier run finished: its files stay as they are, counted for this run and
    marked ``kept`` (the manifest and the CLI say how many were kept and how many written). Its
    figure is drawn if that run was killed before drawing it (the files are only read)."""
    job.release.keep(Path(entry["output"]), entry["output_sha256"])
    if entry.get("label"):
        job.release.keep(Path(entry["label"]), entry["label_sha256"])
    figure = job.private / entry["figure"]
    jnd = entry["result"]["metrics"].get("jnd")
    zoomed = figure.with_name(zoom_figure_name(figure.name))
    if not figure.is_file() or (jnd is not None and not zoomed.is_file()):
        loaded, prepared = _step("preparing", job.prepare, case)
        written = _step("reading the protected copy", read_volume, Path(entry["output"]))
        _draw(loaded, prepared, written.array, figure, job.show_mask, jnd)
    job.capture(case, entry["image_id"])
    return CaseResult(**(entry["result"] | {"kept": True})), case, figure


class _StepFailed(Exception):
    """One case's ``error``, raised during ``step`` ("preparing", "writing", ...)."""

    def __init__(self, step: str, error: Exception):
        super().__init__(step, error)
        self.step, self.error = step, error


def _step(step: str, function: Callable, *args):
    """``function(*args)``; its error is raised as the failure of that step of the case."""
    try:
        return function(*args)
    except Exception as error:
        raise _StepFailed(step, error) from error
