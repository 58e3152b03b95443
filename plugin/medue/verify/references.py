"""Calibration against clean reference models: an exact p-value for a pattern without key space.

A segmentation release's pattern (the checkerboard on the structures) is the same for every key,
so there are no decoy keys to rank the suspect against. Instead the owner measures, once, the
same statistic (``medue.verify.segmentation``: how much of the pasted pattern a model calls
foreground) for ``n`` reference models trained on the clean originals, which never saw the
pattern, on one fixed set of probes; a suspect's statistic is then ranked among theirs:

    p = (1 + #{references responding at least as strongly as the suspect}) / (n + 1)

If the suspect was not trained on a release with this pattern and is exchangeable with the
reference models (trained the same way on data like the owner's), its rank is uniform, so
P(p <= alpha) <= alpha: the conformal p-value (Vovk et al., "Algorithmic Learning in a Random
World", 2005; used for dataset ownership by CertDW, arXiv 2506.13160). Its resolution is
1 / (n + 1): 99 references reach p = 0.01. Two limits follow from the construction and are
stated in every report: the guarantee is only as good as the exchangeability (a suspect of a very
different kind is compared with models it does not resemble), and the pattern is the method's,
not the key's, so a model trained on *another* release made with the same method answers too.

Files (owner-only, in the private folder): ``verify/references/probes.npz`` (the probes, so
every later test uses the same ones) and ``verify/references/references.json`` (each reference
model's file, sha256 and per-probe responses, and the probes' fingerprint).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.io import read_volume
from medue.io.atomic import atomic_path
from medue.job.private import restrict
from medue.verify.rank import rank_test
from medue.verify.record import SegmentationRecord
from medue.verify.segmentation import (
    SegmentationProbes,
    model_responses,
    read_segmentation_probes,
    release_changes,
)
from medue.verify.suspect import Intensity, load_suspect, model_sha256
from medue.verify.test import VerifyResult

FOLDER = "verify/references"
MIN_REFERENCES = 19
"""Below this p cannot reach 0.05; 99 are needed for p to reach 0.01."""
PROBES_SEGMENTATION = 16
MIN_RESPONSE = 0.05
"""The least share of the pasted pattern a suspect must call foreground to be detected: reference
models that all answer 0 would otherwise rank any suspect's stray voxel first (p = 1 / (n + 1))
— found by a new user's untrained UNet (+0.03 %). On DRIVE the references answer 0.4 % and the
models trained on the release 18-90 % (docs/BENCHMARKS.md §17)."""


@dataclass(frozen=True)
class Calibration:
    """The reference models' responses on the fixed probes."""

    probes: SegmentationProbes
    responses: np.ndarray  # (n references, N probes)
    models: tuple[dict, ...]  # per reference: file name and sha256

    @property
    def unlabelled(self) -> int:
        return self.probes.unlabelled

    @property
    def count(self) -> int:
        return len(self.models)


def calibrate(
    record: SegmentationRecord,
    images: Path,
    models: Sequence[Path],
    arch: str | None = None,
    intensity: Intensity | None = None,
    probes: int = PROBES_SEGMENTATION,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Measure ``models`` (clean reference segmenters, ``medue.verify.suspect`` forms) on up to
    ``probes`` clean images of ``images`` the release left out, and save both in the private
    folder (replacing an earlier calibration). Raises ``InputError`` for fewer than 19 models, a
    model that cannot be read or is not a segmenter, or no usable probe."""
    if len(models) < MIN_REFERENCES:
        raise InputError(
            None,
            f"{len(models)} reference models: give at least {MIN_REFERENCES} "
            "(99 for p to reach 0.01)",
        )
    changes = release_changes(record.manifest)
    probe_set = read_segmentation_probes(images, changes, probes, record.released)
    rows, named = [], []
    for done, path in enumerate(models, start=1):
        model = load_suspect(Path(path), arch, intensity or Intensity())
        rows.append(model_responses(model, probe_set, str(path)))
        named.append({"file": Path(path).name, "sha256": model_sha256(Path(path))})
        if progress is not None:
            progress(done, len(models))
    calibration = Calibration(probe_set, np.stack(rows), tuple(named))
    _save(record, calibration)
    return calibration


def read_calibration(record: SegmentationRecord) -> Calibration:
    """The saved calibration of ``record``. Raises ``InputError`` when there is none or its
    probe files changed since."""
    folder = record.private / FOLDER
    table = folder / "references.json"
    if not table.is_file():
        raise InputError(
            record.private,
            "has no reference models yet: a segmentation release "
            "is verified against clean models; run `medue verify references "
            "PRIVATE MODELS... --images CLEAN` first (on the server: POST "
            "/protect/verify/references)",
        )
    data = json.loads(table.read_text())
    encoding = read_volume(Path(data["sources"][0])).encoding
    probes = SegmentationProbes.load(folder / "probes.npz", encoding)
    if probes.fingerprint() != data["fingerprint"]:
        raise InputError(folder / "probes.npz", "does not match references.json; calibrate again")
    return Calibration(probes, np.asarray(data["responses"], float), tuple(data["models"]))


def rank_against_references(suspect: np.ndarray, calibration: Calibration) -> VerifyResult:
    """The conformal test of a suspect's (N,) responses on the calibration's probes."""
    test = rank_test(suspect, calibration.responses)
    responses = {"foreground": np.vstack([suspect[None], calibration.responses])}
    probes = calibration.probes
    amplitude = float(np.max(np.abs(probes.marked - probes.clean)))
    return VerifyResult(test.p_value, test.alpha, {"foreground": test}, responses,
                        len(probes.ids), amplitude, "references", MIN_RESPONSE)  # fmt: skip


def _save(record: SegmentationRecord, calibration: Calibration) -> None:
    folder = record.private / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "probes.npz") as tmp, tmp.open("wb") as handle:
        calibration.probes.save(handle)
    data = {
        "method": record.method,
        "fingerprint": calibration.probes.fingerprint(),
        "sources": list(calibration.probes.sources),
        "probes": list(calibration.probes.ids),
        "models": list(calibration.models),
        "responses": calibration.responses.tolist(),
    }
    with atomic_path(folder / "references.json") as tmp:
        tmp.write_text(json.dumps(data, indent=1))
    restrict(record.private)
