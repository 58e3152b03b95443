"""What the ``/protect`` endpoints do, without HTTP: submit, look up, cancel, find outputs.

One service per server: one studies folder (the dataset; its images are only read) and one
export folder, where each job's release goes into a sub-folder named by the request's ``export``
(each a valid studies folder in its own right: images, ``labels/final`` copied, the public
``RELEASE.md``/``release.json``; nothing else). The job store lives in ``EXPORT/.medue-jobs``
(owner-only), with each release's private record (key, manifest, report, restoration data) in
``EXPORT/.medue-jobs/private/<export>``: a manifest or report is served to the API's clients,
never written into a release. A dataset runs one job at a
time: a second submission while one is queued or running is refused (409).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from medue.class_datasets import looks_classified
from medue.errors import InputError
from medue.io.dicomweb import PacsError
from medue.methods import CLASSIFICATION_METHODS, DEFAULT_METHOD, load_perturber
from medue.methods.base import Perturber
from medue.methods.names import DEFAULT_CLASSIFICATION_METHOD
from medue.server.protect_request import ProtectRequest, RequestError, parse_request, plain_name
from medue.server.sources import source_for
from medue.server.store import PRIVATE_RECORDS, Job, JobStore, read_json
from medue.server.supervisor import Supervisor

JOBS_FOLDER = ".medue-jobs"
CACHE_FOLDER = ".medue-cache"  # series fetched from a PACS


class ProtectService:
    """Protect jobs over ``studies`` (a folder or a DICOMweb URL) into ``export``."""

    def __init__(self, studies: str | Path, export: str | Path) -> None:
        self.export = Path(export).resolve()
        self.source = source_for(str(studies), self.export / CACHE_FOLDER)
        if not self.source.remote:
            root = self.source.root
            if self.export == root or root in self.export.parents:
                raise InputError(self.export, "the export folder must be outside the studies")
            if self.export in root.parents:
                raise InputError(self.export, "the export folder must not contain the studies")
        self.studies = str(self.source.url if self.source.remote else self.source.root)
        self.store = JobStore(self.export / JOBS_FOLDER)
        self.supervisor = Supervisor(self.store)
        self._submitting = threading.Lock()

    def image_ids(self, method: str = DEFAULT_METHOD) -> list[str]:
        """The dataset's image ids (classification methods read its class table)."""
        try:
            ids = self.source.image_ids(method in CLASSIFICATION_METHODS)
            stored = self._stored_here() if self.source.remote else set()
            return [i for i in ids if i not in stored]
        except PacsError as error:
            raise RequestError(str(error), status=502) from None
        except InputError as error:
            raise RequestError(str(error), status=409) from None

    def default_method(self) -> str:
        """The method of a request that names none: ``pattern-presence`` for a folder of studies
        that looks like a classification dataset (a CSV, or one folder per class), else the
        segmentation default."""
        if not self.source.remote and looks_classified(self.source.root):
            return DEFAULT_CLASSIFICATION_METHOD
        return DEFAULT_METHOD

    def submit(self, body: Any) -> Job:
        """A new job from a decoded JSON body, started in the background."""
        if isinstance(body, dict) and "method" not in body:
            body = {**body, "method": self.default_method()}
        method = body.get("method", DEFAULT_METHOD) if isinstance(body, dict) else DEFAULT_METHOD
        ids = self.image_ids(method if isinstance(method, str) else DEFAULT_METHOD)
        request = parse_request(body, set(ids))
        self._check_source(request)
        self._check_release_name(request)
        with self._submitting:
            busy = self.store.active()
            if busy:
                raise RequestError(
                    f"job {busy[0].id} is still {busy[0].state} on this dataset; wait for it or "
                    f"cancel it (DELETE /protect/jobs/{busy[0].id})",
                    status=409,
                )
            images = list(request.images) if request.images is not None else ids
            job = self.store.create(request.as_dict(), self.studies, self.export / request.export,
                                    images, self.export / CACHE_FOLDER)  # fmt: skip
        self.supervisor.start(job)
        return job

    def _stored_here(self) -> set[str]:
        """Series this server's jobs stored in the PACS (protected copies: not offered again)."""
        return {
            item["series"] for job in self.store.jobs() for item in job.status.get("stored", [])
        }

    def _check_release_name(self, request: ProtectRequest) -> None:
        """A release folder already made with other settings is not overwritten by a new job."""
        made = read_json(self.store.private_for(request.export) / "manifest.json")
        wanted = json.loads(json.dumps(request.settings.as_dict(), default=str))
        ignore = ("check",)
        if made and {k: v for k, v in made.get("settings", {}).items() if k not in ignore} != {
            k: v for k, v in wanted.items() if k not in ignore
        }:
            settings = made.get("settings", {})
            raise RequestError(
                f"the release {request.export!r} already holds copies made with other settings "
                f"(method {settings.get('method')}, {settings.get('budget')}); give another "
                "export name",
                status=409,
            )

    def _check_source(self, request: ProtectRequest) -> None:
        if request.store and not self.source.remote:
            raise RequestError("store is for studies in a PACS; these are in a folder")
        if self.source.remote and request.settings.roi.box is None:
            raise RequestError(
                'series from a PACS come without label maps: give the ROI as {"roi": {"box": '
                "[z0, y0, x0, z1, y1, x1]}} (voxels)"
            )

    def job(self, job_id: str) -> Job:
        job = self.store.get(plain_name(job_id, "job id"))
        if job is None:
            raise RequestError(f"no job {job_id!r}", status=404)
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.job(job_id)
        if job.state in ("done", "failed", "cancelled"):
            raise RequestError(f"job {job_id} is already {job.state}", status=409)
        self.supervisor.cancel(job)
        return self.job(job_id)

    def report(self, job_id: str, kind: str) -> Path:
        """The job's ``manifest.json`` (kind ``json``) or ``report.html`` (``html``)."""
        if kind not in ("json", "html"):
            raise RequestError(f"format must be json or html, got {kind!r}")
        job = self.job(job_id)
        path = job.private / ("manifest.json" if kind == "json" else "report.html")
        if job.state != "done" or not path.is_file():
            raise RequestError(f"job {job_id} has no report yet (it is {job.state})", status=409)
        return path

    def figure(self, job_id: str, name: str) -> Path:
        path = self.job(job_id).private / "figures" / plain_name(name, "figure")
        if not path.is_file():
            raise RequestError(f"no figure {name!r} for job {job_id}", status=404)
        return path

    def result(self, image: str, export: str | None) -> Path:
        """The protected copy of ``image`` in the release ``export`` (default: the newest)."""
        plain_name(image, "image")
        release, private = self.release_folders(export)
        for case in read_json(private / "manifest.json").get("cases", []):
            if case["image_id"] == image and Path(case["output"]).exists():
                return Path(case["output"])
        raise RequestError(f"no protected copy of {image!r} in release {release.name!r}", 404)

    def release_folders(self, export: str | None) -> tuple[Path, Path]:
        """The release folder and its private folder (``export``'s, default the newest)."""
        if export is not None:
            folder = self.export / plain_name(export, "export")
            private = self.store.private_for(folder.name)
            if not (private / "manifest.json").is_file():
                raise RequestError(f"no finished release named {export!r}", status=404)
            return folder, private
        done = [job for job in self.store.jobs() if job.state == "done"]
        if not done:
            raise RequestError("no finished release yet", status=404)
        return done[-1].output, done[-1].private


def saved_perturber(export: Path, method: str) -> Perturber | None:
    """The method fitted by the newest finished release in ``export`` that used ``method``."""
    found = []
    for manifest in Path(export).glob(f"{JOBS_FOLDER}/{PRIVATE_RECORDS}/*/manifest.json"):
        record = read_json(manifest)
        generator = (record.get("generator") or {}).get("path")
        same = record.get("settings", {}).get("method") == method
        if same and generator and Path(generator).is_file():
            found.append((manifest.stat().st_mtime, Path(generator)))
    return load_perturber(max(found)[1]) if found else None
