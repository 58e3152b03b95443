"""Proof of use on the server: ``medue verify``'s three actions against a release made here.

The release is one of this server's exports (by name; default the newest finished one). Its
private record (key, keyed pattern) stays in the job store and never leaves the server: the
client uploads a suspect model or the suspect's answers and gets the decision and a report link
back; probe files go out as a zip, their answer sheet stays in the private record. Probe images
are clean images never released: by default the studies' images that the release left out
(a job over a subset of the studies), or any folder on the server given as ``images``. A
segmentation release is first calibrated with clean reference models uploaded as a zip
(``references``); its later tests use the probes fixed then, and its answers are label maps.

The work is ``medue.verify.actions``; this module only maps a request's names to paths and an
``InputError`` to a ``RequestError`` (400: the client's file; 409: nothing to test with).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from medue.class_datasets import discover_classified, looks_classified
from medue.datasets import discover_cases
from medue.errors import InputError
from medue.server.protect_request import RequestError, plain_name
from medue.server.service import ProtectService
from medue.verify.actions import (
    Verdict,
    calibrate_references,
    check_model,
    check_predictions,
    make_probes,
)
from medue.verify.record import SegmentationRecord, VerifyRecord, open_record
from medue.verify.suspect import Intensity

REPORT_FILES = ("verify.html", "verify.json")
T = TypeVar("T")


class VerifyService:
    """Verification against the releases of one ``ProtectService``."""

    def __init__(self, protect: ProtectService) -> None:
        self.protect = protect

    def check_model(
        self,
        upload: Path,
        export: str | None = None,
        arch: str | None = None,
        intensity: str = "uint8",
        images: str | None = None,
        decoys: int | None = None,
        probes: int | None = None,
    ) -> dict:
        """White-box: the uploaded model file (named as the client named it) -> the verdict."""
        release, record = self._record(export)
        folder = (
            None if isinstance(record, SegmentationRecord) else self._probe_folder(record, images)
        )
        verdict = _client_errors(
            lambda: check_model(
                record,
                upload,
                folder,
                arch=arch,
                intensity=Intensity.parse(intensity),
                decoys=decoys,
                probes=probes,
            )
        )
        return self._answer(release, verdict)

    def probes(
        self,
        scratch: Path,
        export: str | None = None,
        images: str | None = None,
        decoys: int | None = None,
        probes: int | None = None,
    ) -> Path:
        """Black-box, first half: the probe files zipped in ``scratch`` (the caller removes it)."""
        release, record = self._record(export)
        folder = (
            None if isinstance(record, SegmentationRecord) else self._probe_folder(record, images)
        )
        out = scratch / f"probes-{release}"
        batch, _ = _client_errors(
            lambda: make_probes(record, folder, out, decoys=decoys, probes=probes)
        )
        return Path(shutil.make_archive(str(out), "zip", batch.folder))

    def score(self, upload: Path, export: str | None = None) -> dict:
        """Black-box, second half: the suspect's answers (a CSV, or a zip holding one CSV; for a
        segmentation release a zip of label maps)."""
        release, record = self._record(export)
        if isinstance(record, VerifyRecord):
            upload = _client_errors(lambda: _predictions_csv(upload))
        return self._answer(release, _client_errors(lambda: check_predictions(record, upload)))

    def references(
        self,
        upload: Path,
        scratch: Path,
        export: str | None = None,
        arch: str | None = None,
        intensity: str = "uint8",
        images: str | None = None,
        probes: int | None = None,
    ) -> dict:
        """A segmentation release's clean reference models (a zip of model files) measured on
        clean probe images; the calibration replaces any earlier one."""
        release, record = self._record(export)
        if not isinstance(record, SegmentationRecord):
            raise RequestError(f"release {release!r} is a classification release: it is tested "
                               "against decoy keys and needs no reference models", 409)  # fmt: skip
        folder = self._probe_folder(record, images)
        models = _client_errors(lambda: _unzipped_models(upload, scratch / "references"))
        calibration, warnings = _client_errors(
            lambda: calibrate_references(record, folder, models, arch=arch,
                                         intensity=Intensity.parse(intensity), probes=probes)
        )  # fmt: skip
        means = calibration.responses.mean(axis=1)
        return {"release": release, "references": calibration.count,
                "probes": len(calibration.probes.ids), "response_mean": float(means.mean()),
                "response_sd": float(means.std()), "warnings": list(warnings)}  # fmt: skip

    def report(self, export: str, report: str, name: str) -> Path:
        """A file of a verification report: verify.html, verify.json or one of its figures."""
        _, private = self.protect.release_folders(export)
        name = plain_name(name, "report file")
        path = private / "verify" / plain_name(report, "report") / name
        if not (name in REPORT_FILES or name.endswith(".png")) or not path.is_file():
            raise RequestError(f"no report file {name!r} in {report!r} of {export!r}", 404)
        return path

    def _record(self, export: str | None) -> tuple[str, VerifyRecord | SegmentationRecord]:
        release, private = self.protect.release_folders(export)
        try:
            return release.name, open_record(private)
        except InputError as error:  # e.g. a release whose method cannot be verified
            message = str(error).replace(str(private), f"release {release.name!r}")
            hint = "" if export else "; name a keyed release in the form field export"
            raise RequestError(message + hint, status=409) from None

    def _probe_folder(self, record: VerifyRecord | SegmentationRecord, images: str | None) -> Path:
        """The folder of probe images (the released ones in it are left out when reading)."""
        if images:
            folder = Path(images)
            if not folder.is_dir():
                raise RequestError(f"images: {images} is not a folder on this server")
            return folder
        if self.protect.source.remote:
            raise RequestError("give images: a folder on this server of clean images never "
                               "released (the studies are in a PACS)", status=409)  # fmt: skip
        root = self.protect.source.root
        cases = discover_classified(root) if looks_classified(root) else discover_cases(root)
        if all(Path(c.image).resolve() in record.released for c in cases):
            raise RequestError(
                f"every image of the studies is in release {record.private.name!r}: give images, "
                "a folder on this server of clean images never released",
                status=409,
            )
        return root

    def _answer(self, release: str, verdict: Verdict) -> dict:
        report = verdict.html_path.parent.name
        link = f"/protect/verify/reports/{release}/{report}"
        return {
            **verdict.as_dict(),
            "release": release,
            "report": f"{link}/verify.html",
            "report_json": f"{link}/verify.json",
        }


def _client_errors(work: Callable[[], T]) -> T:
    """Run ``work``; an ``InputError`` (the client's file or numbers) becomes a 400."""
    try:
        return work()
    except InputError as error:
        raise RequestError(_without_paths(str(error))) from None


def _without_paths(message: str) -> str:
    """The server's scratch paths mean nothing to the client: name the uploaded file only."""
    scratch = tempfile.gettempdir()
    words = [Path(w).name if w.startswith(scratch) else w for w in message.split(" ")]
    return " ".join(words)


def _unzipped_models(upload: Path, folder: Path) -> list[Path]:
    """The model files (``.pt``, ``.pth``, ``.ts``) of a zip archive, extracted into ``folder``."""
    if not zipfile.is_zipfile(upload):
        raise InputError(upload, "is not a zip archive of reference model files")
    with zipfile.ZipFile(upload) as archive:  # a torch file is a zip archive itself
        if any(n.endswith(("data.pkl", "constants.pkl")) for n in archive.namelist()):
            raise InputError(upload, "is one model file; send the reference models as one zip "
                             "archive of model files")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    models = []
    with zipfile.ZipFile(upload) as archive:
        for name in archive.namelist():
            if Path(name).suffix in (".pt", ".pth", ".ts") and "/." not in f"/{name}":
                target = folder / f"{len(models):04d}_{Path(name).name}"
                target.write_bytes(archive.read(name))
                models.append(target)
    if not models:
        raise InputError(upload, "holds no model file (.pt, .pth or .ts)")
    return models


def _predictions_csv(upload: Path) -> Path:
    """``upload`` itself, or the one CSV inside it when it is a zip archive."""
    if not zipfile.is_zipfile(upload):
        return upload
    with zipfile.ZipFile(upload) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if not names:
            raise InputError(upload, "is not a CSV of answers (a zip archive with no CSV in "
                             "it); a model goes in the field model")  # fmt: skip
        if len(names) > 1:
            raise InputError(upload, f"holds {len(names)} CSV files; the answers must be one CSV")
        target = upload.parent / Path(names[0]).name
        target.write_bytes(archive.read(names[0]))
    return target
