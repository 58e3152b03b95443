"""MedUE's MONAI Label app: one preview task per protection method.

Start it with ``medue serve`` (which also mounts the ``/protect`` job endpoints), or by hand::

    monailabel start_server --app medue_app --studies STUDIES --conf export EXPORT \
        --uvicorn_app medue.server.app:app

Each task is listed in ``/info/`` under ``models`` as ``protect_<method>`` with its config
(method, preset, epsilon in native units). ``POST /infer/protect_<method>?image=ID&output=image``
returns the protected image (float32, the image's own grid); ``params`` may set ``preset`` or
``epsilon`` and ``"perturbation": true`` (the change instead of the image). The app only wires
MONAI Label to ``medue``: the work is ``medue.job.preview``.
"""

from __future__ import annotations

import os

from fastapi import HTTPException
from lib.preview import PreviewTask, UnknownImage, datastore_case
from monailabel.interfaces.app import MONAILabelApp

from medue.errors import InputError
from medue.methods import METHODS


class MedUEApp(MONAILabelApp):
    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.export = conf.get("export")
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="MedUE",
            description="Protect medical imaging datasets with unlearnable perturbations",
            version="1",
        )

    def init_infers(self):
        return {f"protect_{method}": PreviewTask(method, self.export) for method in METHODS}

    def init_strategies(self):
        return {}

    def infer(self, request, datastore=None):
        """The preview needs the image's label (its ROI): found here, by the image id. A problem
        with the image or the request is one 4xx message, not a server error."""
        request = dict(request)
        if request.get("model") not in self._infers:
            known = ", ".join(sorted(self._infers))
            raise HTTPException(404, f"no preview {request.get('model')!r}; choose one of {known}")
        store = datastore or self.datastore()
        try:
            if isinstance(request.get("image"), str) and not os.path.exists(request["image"]):
                request["medue_case"] = datastore_case(store, request["image"])
            return super().infer(request, datastore)
        except UnknownImage as error:
            raise HTTPException(status_code=404, detail=str(error)) from None
        except InputError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None

    def _download_dcmqi_tools(self):
        """MedUE never writes DICOM SEG, so it needs no dcmqi (whose download fails offline)."""
