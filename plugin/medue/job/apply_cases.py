"""Apply a fitted method to every prepared case of a job: write, journal, figure, record.

Each case is written atomically and journaled (``record.ReleaseRecord``), then its figure is drawn
and it is recorded as finished (``resume.FinishedCases``). A case that an earlier run of the same
job already finished, and whose files are still exactly as recorded, is kept as it is: a killed job
run again resumes without writing any file twice. One case's failure is recorded with its file and
the others go on; a cancel stops between cases.
"""

from __future__ import annotations

from pathlib import Path

from medue.batch import Failure
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
from medue.report import case_figure


def apply_cases(
    input_path: Path,
    output: Path,
    pairs: list,
    perturber: Perturber,
    release: ReleaseRecord,
    finished: FinishedCases,
    progress: ProgressCallback,
    cancel: CancelToken,
    show_mask: bool = False,
) -> tuple[list, list[Failure]]:
    """Protect each ``(loaded, prepared)`` pair; returns ``[(CaseResult, Case, figure)]`` and the
    failures. ``show_mask`` adds the changed-voxel panel to each figure (SALM)."""
    root = input_root(input_path)
    results, failures = [], []
    derivation = f"unlearnable-example protection ({perturber.method})"
    for index, (loaded, prepared) in enumerate(pairs):
        check_cancel(cancel)
        kept = finished.finished(prepared.image_id, loaded.case.image)
        if kept is not None and release.has(kept["output"], kept.get("label")):
            results.append(_keep(kept, loaded.case, release, output))
            progress("apply", index + 1, len(pairs))
            continue
        target = output_for(loaded.case.image, root, output)
        try:
            release.check_target(target, volume_files(loaded.case.image))
            label_target = label_output(loaded.case, root, output)
            if label_target is not None:
                release.check_target(label_target, volume_files(loaded.case.label))
            result, written = protect_case(loaded, prepared, perturber, target, derivation)
            release.add(target)
            if label_target is not None:
                copy_label(loaded.case, root, output)
                release.add(label_target)
        except Exception as error:  # recorded for this case; re-raises a cancel
            failures.append(Failure.from_error(error, loaded.case.image, "writing"))
            continue
        figure = output / REPORT_FOLDER / "figures" / f"{prepared.image_id}.png"
        monochrome1 = loaded.image.metadata.get("photometric_interpretation") == "MONOCHROME1"
        case_figure(
            loaded.image.array, written.array, prepared.budget.window,
            prepared.budget.epsilon_native, figure, inverted=monochrome1, show_mask=show_mask,
        )  # fmt: skip
        finished.add(_finished_entry(result, loaded.case, target, label_target, release, figure))
        results.append((result, loaded.case, figure))
        progress("apply", index + 1, len(pairs))
    return results, failures


def _finished_entry(result, case, target, label_target, release, figure) -> dict:
    return {
        "image_id": result.image_id,
        "input_sha256": fingerprint(case.image),
        "output": str(target),
        "output_sha256": release.sha256(target),
        "label": str(label_target) if label_target is not None else None,
        "label_sha256": release.sha256(label_target) if label_target is not None else None,
        "figure": str(figure.relative_to(figure.parents[1])),
        "result": result.as_dict(),
    }


def _keep(entry: dict, case, release: ReleaseRecord, output: Path) -> tuple:
    """A case an earlier run finished: its files stay as they are, counted for this run."""
    release.keep(Path(entry["output"]))
    if entry.get("label"):
        release.keep(Path(entry["label"]))
    figure = output / REPORT_FOLDER / entry["figure"]
    return CaseResult(**entry["result"]), case, figure
