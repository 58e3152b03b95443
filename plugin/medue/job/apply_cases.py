"""Apply a fitted method to every case of a job, one at a time: read, prepare, write, record.

Each case is read and prepared (the caller's ``prepare``), protected, written atomically and
journaled (``record.ReleaseRecord``), its figure drawn, and it is recorded as finished
(``resume.FinishedCases``); its arrays are dropped before the next case is read, so memory does
not grow with the number of cases. A case that an earlier run of the same job already finished,
and whose files are still exactly as recorded, is kept as it is without being read: a killed job
run again resumes without writing any file twice. One case's failure is recorded with its file
and the others go on; a cancel stops between cases.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from medue.batch import Failure
from medue.datasets import Case, LoadedCase
from medue.io import volume_files
from medue.job.apply import CaseResult, protect_case
from medue.job.outputs import (
    REPORT_FOLDER,
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
from medue.report import case_figure

Prepare = Callable[[Case], tuple[LoadedCase, PreparedCase]]
"""Reads and prepares one case (``medue.job.run.read_and_prepare`` with the job's settings)."""


def apply_cases(
    input_path: Path,
    output: Path,
    cases: list[Case],
    prepare: Prepare,
    perturber: Perturber,
    release: ReleaseRecord,
    finished: FinishedCases,
    progress: ProgressCallback,
    cancel: CancelToken,
    show_mask: bool = False,
) -> tuple[list, list[Failure]]:
    """Protect each of ``cases``; returns ``[(CaseResult, Case, figure)]`` and the failures, in
    case order. Reports ``("apply", done, len(cases))`` after each case. ``show_mask`` adds the
    changed-voxel panel to each figure (SALM)."""
    root = input_root(input_path)
    derivation = f"unlearnable-example protection ({perturber.method})"
    results, failures = [], []
    for index, case in enumerate(cases):
        check_cancel(cancel)
        kept = finished.finished(case.image_id, case.image)
        if kept is not None and release.has(kept["output"], kept.get("label")):
            results.append(_keep(kept, case, release, output))
        else:
            done = _protect_one(case, prepare, perturber, release, finished, root, output,
                                derivation, show_mask, failures)  # fmt: skip
            if done is not None:
                result, figure = done
                results.append((result, case, figure))
        progress("apply", index + 1, len(cases))
    return results, failures


def _protect_one(
    case: Case,
    prepare: Prepare,
    perturber: Perturber,
    release: ReleaseRecord,
    finished: FinishedCases,
    root: Path,
    output: Path,
    derivation: str,
    show_mask: bool,
    failures: list[Failure],
) -> tuple[CaseResult, Path] | None:
    """Read, prepare, protect and write one case, record it finished, then draw its figure; its
    arrays go when this returns. Returns its record and figure, or None after adding its failure.

    The case is recorded finished as soon as its copies are in place (before the figure), so a
    kill leaves at most the label copy and the hashing of the copies between the protected copy
    landing and the case's record."""
    try:
        loaded, prepared = prepare(case)
    except Exception as error:  # recorded for this case; re-raises a cancel
        failures.append(Failure.from_error(error, case.image, "preparing"))
        return None
    target = output_for(case.image, root, output)
    try:
        release.check_target(target, volume_files(case.image))
        label_target = label_output(case, root, output)
        if label_target is not None:
            release.check_target(label_target, volume_files(case.label))
        result, written = protect_case(loaded, prepared, perturber, target, derivation)
        release.add(target)
        if label_target is not None:
            copy_label(case, root, output)
            release.add(label_target)
    except Exception as error:  # recorded for this case; re-raises a cancel
        failures.append(Failure.from_error(error, case.image, "writing"))
        return None
    figure = output / REPORT_FOLDER / "figures" / f"{prepared.image_id}.png"
    finished.add(_finished_entry(result, case, label_target, release, figure))
    monochrome1 = loaded.image.metadata.get("photometric_interpretation") == "MONOCHROME1"
    case_figure(
        loaded.image.array, written.array, prepared.budget.window,
        prepared.budget.epsilon_native, figure, inverted=monochrome1, show_mask=show_mask,
    )  # fmt: skip
    return result, figure


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


def _keep(entry: dict, case: Case, release: ReleaseRecord, output: Path) -> tuple:
    """A case an earlier run finished: its files stay as they are, counted for this run."""
    release.keep(Path(entry["output"]))
    if entry.get("label"):
        release.keep(Path(entry["label"]))
    figure = output / REPORT_FOLDER / entry["figure"]
    return CaseResult(**entry["result"]), case, figure
