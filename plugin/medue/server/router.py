"""The ``/protect`` HTTP endpoints (FastAPI), speaking HTTP only: ``service`` does the work.

- ``GET  /protect/methods``             methods and presets a client can offer
- ``GET  /protect/images``              the dataset's image ids
- ``POST /protect/jobs``                start a job (body: ``medue.server.protect_request``) → 201
- ``GET  /protect/jobs``                every job, oldest first
- ``GET  /protect/jobs/{id}``           state, phase, done/total, ETA, per-image status, metrics
- ``DELETE /protect/jobs/{id}``         cancel
- ``GET  /protect/jobs/{id}/report``    the manifest (``?format=json``) or the HTML report
- ``GET  /protect/jobs/{id}/figures/{name}``  the report's figures
- ``GET  /protect/result?image=ID[&export=NAME]``  a protected copy (a DICOM series as a zip)
- ``POST /protect/verify``              was a suspect trained on a release? (multipart form:
  ``model`` a TorchScript file or state dict [+ ``arch``, ``intensity``], or ``predictions``
  the suspect's answers on probe files, a CSV or a zip of one, for a segmentation release a zip
  of label maps; optional ``export``, ``images``, ``decoys``, ``probes``) -> the decision, p and
  the report's links
- ``POST /protect/verify/references``   a segmentation release's clean reference models (form:
  ``models`` a zip of model files [+ ``arch``, ``intensity``]; optional ``export``, ``images``,
  ``probes``), measured once for every later test
- ``POST /protect/verify/probes``       probe files for a suspect's owner, as a zip (form fields
  ``export``, ``images``, ``decoys``, ``probes``)
- ``GET  /protect/verify/reports/{export}/{report}/{file}``  a verification report and figures

Every refusal is one JSON ``{"detail": message}`` with a 4xx status. When MONAI Label's auth is
on, every endpoint needs its admin role (MONAI Label's own ``RBAC`` dependency).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from monailabel.config import settings
from monailabel.endpoints.user.auth import RBAC

from medue.budget import PRESETS
from medue.methods import CLASSIFICATION_METHODS, DEFAULT_METHOD, METHODS
from medue.methods.names import DEFAULT_CLASSIFICATION_METHOD
from medue.server.protect_request import RequestError, plain_name
from medue.server.service import ProtectService
from medue.server.verification import VerifyService

router = APIRouter(
    prefix="/protect",
    tags=["protect"],
    dependencies=[Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_ADMIN))],
)
_service: ProtectService | None = None


def use_service(service: ProtectService) -> None:
    """Set the service the endpoints act on (the app does this once at start)."""
    global _service
    _service = service


def service() -> ProtectService:
    if _service is None:
        raise RequestError("the protect service is not configured on this server", status=503)
    return _service


def answer(work: Callable[[], object]) -> object:
    """Run ``work``; a RequestError becomes its status and one-line message."""
    try:
        return work()
    except RequestError as error:
        return JSONResponse({"detail": str(error)}, status_code=error.status)


@router.get("/methods")
def methods() -> dict:
    return {
        "default": DEFAULT_METHOD,
        "methods": list(METHODS),
        "classification": list(CLASSIFICATION_METHODS),
        "classification_default": DEFAULT_CLASSIFICATION_METHOD,
        "presets": {name: preset.meaning for name, preset in PRESETS.items()},
    }


@router.get("/images")
def images(method: str = DEFAULT_METHOD):
    return answer(lambda: {"images": service().image_ids(method)})


@router.post("/jobs", status_code=201)
async def submit(request: Request):
    raw = await request.body()
    try:
        body = json.loads(raw or b"null", parse_constant=_not_json)
    except ValueError as error:
        return JSONResponse({"detail": f"the request body is not valid JSON: {error}"}, 400)
    return answer(lambda: service().submit(body).view())


@router.get("/jobs")
def jobs():
    return answer(lambda: {"jobs": [job.view() for job in service().store.jobs()]})


@router.get("/jobs/{job_id}")
def job(job_id: str):
    return answer(lambda: service().job(job_id).view())


@router.delete("/jobs/{job_id}")
def cancel(job_id: str):
    return answer(lambda: service().cancel(job_id).view())


@router.get("/jobs/{job_id}/report")
def report(job_id: str, format: str = "html"):  # noqa: A002 - the query parameter's name
    return answer(lambda: FileResponse(service().report(job_id, format)))


@router.get("/jobs/{job_id}/figures/{name}")
def figure(job_id: str, name: str):
    return answer(lambda: FileResponse(service().figure(job_id, name), media_type="image/png"))


@router.get("/result")
def result(background: BackgroundTasks, image: str | None = None, export: str | None = None):
    def work():
        if not image:
            raise RequestError("say which image: /protect/result?image=ID")
        path = service().result(image, export)
        if path.is_file():
            return FileResponse(path, filename=path.name)
        archive = _zip(path)  # a DICOM series folder
        background.add_task(shutil.rmtree, archive.parent, True)
        return FileResponse(archive, filename=f"{image}.zip", media_type="application/zip")

    return answer(work)


@router.post("/verify")
def verify(
    background: BackgroundTasks,
    model: Annotated[UploadFile | None, File()] = None,
    predictions: Annotated[UploadFile | None, File()] = None,
    export: Annotated[str | None, Form()] = None,
    arch: Annotated[str | None, Form()] = None,
    intensity: Annotated[str, Form()] = "uint8",
    images: Annotated[str | None, Form()] = None,
    decoys: Annotated[str | None, Form()] = None,
    probes: Annotated[str | None, Form()] = None,
):
    def work():
        if (model is None) == (predictions is None):
            raise RequestError("upload either model (the suspect's file) or predictions (its "
                               "answers on the probe files)")  # fmt: skip
        verifier = VerifyService(service())
        scratch = _scratch(background)
        if model is not None:
            upload = _save(model, scratch, "suspect.pt")
            counts = _count("decoys", decoys), _count("probes", probes)
            return verifier.check_model(upload, export, arch, intensity, images, *counts)
        return verifier.score(_save(predictions, scratch, "predictions.csv"), export)

    return answer(work)


@router.post("/verify/references")
def verify_references(
    background: BackgroundTasks,
    models: Annotated[UploadFile | None, File()] = None,
    export: Annotated[str | None, Form()] = None,
    arch: Annotated[str | None, Form()] = None,
    intensity: Annotated[str, Form()] = "uint8",
    images: Annotated[str | None, Form()] = None,
    probes: Annotated[str | None, Form()] = None,
):
    def work():
        if models is None:
            raise RequestError("upload models: a zip archive of the clean reference models")
        scratch = _scratch(background)
        upload = _save(models, scratch, "references.zip")
        return VerifyService(service()).references(upload, scratch, export, arch, intensity,
                                                   images, _count("probes", probes))  # fmt: skip

    return answer(work)


@router.post("/verify/probes")
def verify_probes(
    background: BackgroundTasks,
    export: Annotated[str | None, Form()] = None,
    images: Annotated[str | None, Form()] = None,
    decoys: Annotated[str | None, Form()] = None,
    probes: Annotated[str | None, Form()] = None,
):
    def work():
        archive = VerifyService(service()).probes(_scratch(background), export, images,
                                                  _count("decoys", decoys),
                                                  _count("probes", probes))  # fmt: skip
        return FileResponse(archive, filename=archive.name, media_type="application/zip")

    return answer(work)


@router.get("/verify/reports/{export}/{report}/{name}")
def verify_report(export: str, report: str, name: str):
    return answer(lambda: FileResponse(VerifyService(service()).report(export, report, name)))


def _scratch(background: BackgroundTasks) -> Path:
    """A private scratch folder, removed once the response is sent."""
    scratch = Path(tempfile.mkdtemp(prefix="medue-verify-"))
    background.add_task(shutil.rmtree, scratch, True)
    return scratch


def _save(upload: UploadFile, folder: Path, fallback: str) -> Path:
    """The uploaded file in ``folder`` under the client's plain file name (else ``fallback``)."""
    name = Path(upload.filename or "").name
    try:
        name = plain_name(name, "file name")
    except RequestError:
        name = fallback
    path = folder / name
    with path.open("wb") as handle:
        shutil.copyfileobj(upload.file, handle)
    return path


def _count(name: str, text: str | None) -> int | None:
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise RequestError(f"{name} must be a whole number, got {text!r}") from None


def _not_json(name: str) -> None:
    """JSON has no NaN or Infinity (RFC 8259 section 6); Python's parser would accept them."""
    raise ValueError(f"{name} is not a JSON number")


def _zip(folder: Path) -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="medue-result-"))
    return Path(shutil.make_archive(str(scratch / folder.name), "zip", folder))
