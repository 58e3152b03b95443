"""The three proof-of-use actions as a data owner runs them, from ``medue verify`` or the server.

- ``check_model``: a suspect model file at hand (white-box) -> a report in the private folder;
- ``make_probes``: probe files for the suspect's owner to run (black-box, first half);
- ``check_predictions``: the suspect's answers on those files -> a report (black-box, second half);
- ``calibrate_references``: a segmentation release's clean reference models, measured once.

A classification release (``VerifyRecord``) is tested key against decoys (``medue.verify.test``);
a segmentation release (``SegmentationRecord``) against its reference models
(``medue.verify.references``), on the probes fixed when they were measured.

Each returns what a caller shows a person (the result, the report's paths, warnings as lines);
every bad input is an ``InputError`` naming the file, raised before any report is written. The
report folder is ``PRIVATE/verify/<suspect file's stem>-<first 8 hex of its sha256>`` unless a
folder is given, so two suspects of one name never overwrite each other's evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medue.errors import InputError
from medue.verify.blackbox import (
    DECOYS_BLACK_BOX,
    PROBES_BLACK_BOX,
    ProbeBatch,
    score_predictions,
    write_probes,
)
from medue.verify.blackbox_segmentation import score_label_maps, write_segmentation_probes
from medue.verify.probes import ProbeSet, read_probes
from medue.verify.record import SegmentationRecord, VerifyRecord
from medue.verify.references import (
    PROBES_SEGMENTATION,
    Calibration,
    calibrate,
    rank_against_references,
    read_calibration,
)
from medue.verify.report import write_report
from medue.verify.segmentation import SegmentationProbes, first_probe_maps, model_responses
from medue.verify.suspect import Intensity, load_suspect, model_sha256
from medue.verify.test import DECOYS_WHITE_BOX, VerifyResult, verify_classifier

PROBES_WHITE_BOX = 64
FEW_PROBES = 16
"""Below this many probe images a warning says the test has little power."""
MIN_DECOYS = 19
"""With fewer decoys p cannot reach 0.05."""


@dataclass(frozen=True)
class Verdict:
    """A finished test: the result, where its report is, and what the owner should be told."""

    result: VerifyResult
    suspect: str  # the file's name
    sha256: str  # of the suspect's file (model or predictions)
    json_path: Path
    html_path: Path
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """The result's numbers with the suspect's name, hash and warnings (JSON-ready)."""
        return {
            **self.result.as_dict(),
            "suspect": self.suspect,
            "suspect_sha256": self.sha256,
            "warnings": list(self.warnings),
        }


def check_model(
    record: VerifyRecord | SegmentationRecord,
    model_path: Path,
    images: Path | None,
    *,
    arch: str | None = None,
    intensity: Intensity | None = None,
    decoys: int | None = None,
    probes: int | None = None,
    out: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Verdict:
    """White-box: the suspect in ``model_path`` (``medue.verify.suspect``) against the key and
    ``decoys`` decoys (default 199) on up to ``probes`` (default 64) clean images of ``images``;
    a segmentation release: against its reference models on their probes (``images`` unused)."""
    model = load_suspect(model_path, arch, intensity or Intensity())
    if isinstance(record, SegmentationRecord):
        calibration = read_calibration(record)
        probe_set = calibration.probes
        suspect = model_responses(model, probe_set, str(model_path))
        result = rank_against_references(suspect, calibration)
        result.maps.update(first_probe_maps(model, probe_set, str(model_path)))
        digest = model_sha256(Path(model_path))
        warnings = (*_among_references(digest, calibration), *_resampled(model))
        return _reported(record, result, probe_set, Path(model_path), out, warnings, digest)
    decoys = checked_decoys(decoys, DECOYS_WHITE_BOX)
    limit = PROBES_WHITE_BOX if probes is None else probes
    probe_set, warnings = probe_images(record, images, limit)
    result = verify_classifier(model, record, probe_set, str(model_path), decoys, progress)
    warnings = (*warnings, *_resampled(model))
    return _reported(record, result, probe_set, Path(model_path), out, warnings)


def _among_references(digest: str, calibration: Calibration) -> tuple[str, ...]:
    """The suspect (its sha256 ``digest``) is one of the calibration's reference models."""
    same = [m["file"] for m in calibration.models if m.get("sha256") == digest]
    if not same:
        return ()
    return (f"the suspect is one of the reference models ({same[0]}): it is ranked against "
            "itself, so its p-value means nothing; calibrate without it",)  # fmt: skip


def _resampled(model: object) -> tuple[str, ...]:
    """A bundle whose pre-processing resampled the images (``medue.verify.bundle``)."""
    grids = getattr(model, "resampled", None)
    if not grids:
        return ()
    (before, after), *_ = grids.items()
    return (f"the bundle's pre-processing resamples {before} images to {after}: a one-voxel "
            "pattern is blurred on the way in, so the test has less power for this model "
            "(a 'not detected' here is weaker evidence)",)  # fmt: skip


def _earlier_calibration(record: SegmentationRecord) -> str:
    """The size of the calibration already saved ("" if none), before it is replaced."""
    if not (record.private / "verify/references/references.json").is_file():
        return ""
    try:
        return _size(read_calibration(record))
    except InputError:
        return "unreadable"


def _size(calibration: Calibration) -> str:
    return f"{calibration.count} reference models on {len(calibration.probes.ids)} probes"


def calibrate_references(
    record: SegmentationRecord,
    images: Path,
    models: list[Path],
    *,
    arch: str | None = None,
    intensity: Intensity | None = None,
    probes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Calibration, tuple[str, ...]]:
    """Measure the clean reference models of a segmentation release (``medue.verify.references``)
    on up to ``probes`` (default 16) clean images of ``images``; also the warnings."""
    limit = PROBES_SEGMENTATION if probes is None else probes
    if limit < 1:
        raise InputError(None, f"probes must be at least 1, got {limit}")
    earlier = _earlier_calibration(record)
    calibration = calibrate(record, images, models, arch, intensity, limit, progress)
    warnings = [f"probe left out: {problem}" for problem in calibration.probes.skipped]
    if earlier:
        warnings.append(f"replaced the earlier calibration ({earlier}) with this one "
                        f"({_size(calibration)})")  # fmt: skip
    if calibration.unlabelled:
        warnings.append(f"{calibration.unlabelled} probe images have no label: the pattern may "
                        "be pasted over their own structures, which weakens the test")  # fmt: skip
    if len(calibration.probes.ids) < FEW_PROBES:
        warnings.append(f"{len(calibration.probes.ids)} probe images: with fewer than "
                        f"{FEW_PROBES} the test has little power (p stays exact)")  # fmt: skip
    if calibration.count < 99:
        warnings.append(f"{calibration.count} reference models: p cannot go below "
                        f"{1 / (calibration.count + 1):.3g}, so nothing is detected at 0.01 "
                        "(99 are needed)")  # fmt: skip
    return calibration, tuple(warnings)


def make_probes(
    record: VerifyRecord | SegmentationRecord,
    images: Path | None,
    out: Path,
    *,
    decoys: int | None = None,
    probes: int | None = None,
) -> tuple[ProbeBatch, tuple[str, ...]]:
    """Black-box, first half: probe files of ``images`` (default 16 probes, 99 decoys) into
    ``out`` (``medue.verify.blackbox.write_probes``); also the warnings for the owner. A
    segmentation release writes its reference models' probes (``images`` unused)."""
    if isinstance(record, SegmentationRecord):
        folder, files, sheet = write_segmentation_probes(record, read_calibration(record), out)
        return ProbeBatch(folder, files, sheet), ()
    decoys = checked_decoys(decoys, DECOYS_BLACK_BOX)
    limit = PROBES_BLACK_BOX if probes is None else probes
    probe_set, warnings = probe_images(record, images, limit)
    return write_probes(record, probe_set, out, decoys), warnings


def check_predictions(
    record: VerifyRecord | SegmentationRecord, predictions: Path, out: Path | None = None
) -> Verdict:
    """Black-box, second half: the suspect's answers in ``predictions`` (CSV of class scores;
    for a segmentation release a folder or zip of label maps) scored against the answer sheet
    of the probe batch they answer."""
    if isinstance(record, SegmentationRecord):
        calibration = read_calibration(record)
        result = score_label_maps(record, calibration, predictions)
        return _reported(record, result, calibration.probes, Path(predictions), out, ())
    result, probe_set = score_predictions(record, predictions)
    return _reported(record, result, probe_set, Path(predictions), out, ())


def probe_images(
    record: VerifyRecord, images: Path, limit: int
) -> tuple[ProbeSet, tuple[str, ...]]:
    """The probe set of ``images`` for ``record`` (its reference class when the folder has one),
    with a warning per image left out and one when fewer than 16 remain. The images the release
    was made from are always left out (the suspect may have trained on them)."""
    if limit < 1:
        raise InputError(None, f"probes must be at least 1, got {limit}")
    probes = read_probes(images, record.perturber.reference, limit, record.released)
    warnings = [f"probe left out: {problem}" for problem in probes.skipped]
    if len(probes.ids) < FEW_PROBES:
        warnings.append(
            f"the test uses {len(probes.ids)} probe images of class "
            f"{record.perturber.reference!r}; with fewer than {FEW_PROBES} it has little power "
            "(the p-value stays exact)"
        )
    return probes, tuple(warnings)


def checked_decoys(decoys: int | None, default: int) -> int:
    """``decoys`` or the default; raises ``InputError`` below 19 (p could not reach 0.05)."""
    decoys = default if decoys is None else decoys
    if decoys < MIN_DECOYS:
        raise InputError(None, f"decoys must be at least {MIN_DECOYS} (p can then reach 0.05)")
    return decoys


def _reported(
    record: VerifyRecord | SegmentationRecord,
    result: VerifyResult,
    probes: ProbeSet | SegmentationProbes,
    suspect: Path,
    out: Path | None,
    warnings: tuple[str, ...],
    digest: str | None = None,
) -> Verdict:
    """Write the report; ``digest`` is the suspect's sha256 when already computed."""
    digest = digest or model_sha256(suspect)
    folder = out or record.private / "verify" / f"{suspect.stem}-{digest[:8]}"
    json_path, html_path = write_report(result, record, probes, suspect.name, folder, digest)
    return Verdict(result, suspect.name, digest, json_path, html_path, warnings)
