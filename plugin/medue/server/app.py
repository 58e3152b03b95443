"""MONAI Label's FastAPI app with MedUE's ``/protect`` router mounted on it.

MONAI Label has no hook for an app's own REST routes, so the server is started on this module
instead of ``monailabel.app:app``::

    monailabel start_server --app medue_app --studies STUDIES --conf export EXPORT \\
        --uvicorn_app medue.server.app:app

(``medue serve`` does exactly that). At import, the job service is set up over MONAI Label's
studies setting and the ``export`` conf value, and its supervisor resumes any job a previous
server left unfinished.
"""

from __future__ import annotations

import json
import logging

from fastapi import Request
from fastapi.responses import JSONResponse
from monailabel.app import app
from monailabel.config import settings

from medue.errors import InputError
from medue.server import auth
from medue.server.router import router, use_service
from medue.server.service import ProtectService

log = logging.getLogger("medue.server")
auth.install()  # MONAI Label 0.8.5's token check fails under PyJWT 2 (see medue.server.auth)
app.include_router(router, prefix=settings.MONAI_LABEL_API_STR)


@app.exception_handler(json.JSONDecodeError)
async def _malformed_json(request: Request, error: json.JSONDecodeError) -> JSONResponse:
    """MONAI Label parses ``/infer``'s ``params`` form field itself and lets a JSON error become
    a 500; it is the client's mistake: 400, saying where."""
    detail = f"params is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
    return JSONResponse(status_code=400, content={"detail": detail})


def _start() -> None:
    conf = settings.MONAI_LABEL_APP_CONF or {}
    export = conf.get("export")
    if not export:
        log.error("no export folder: start the server with --conf export DIR (medue serve does)")
        return
    try:
        service = ProtectService(settings.MONAI_LABEL_STUDIES, export)
    except InputError as error:
        log.error("protect service not started: %s", error)
        return
    use_service(service)
    service.supervisor.start_watching()
    log.info("protect jobs: studies %s, export %s", service.studies, service.export)


_start()
__all__ = ["app"]
