"""The preview infer task: MONAI Label's request in, ``medue.job.preview`` out."""

from __future__ import annotations

import tempfile
from pathlib import Path

from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from medue.budget import DEFAULT_PRESET, BudgetRequest
from medue.datasets import Case
from medue.errors import InputError
from medue.io import strip_extension
from medue.job import ProtectSettings
from medue.job.preview import preview_case, write_preview
from medue.prepare import RoiSpec
from medue.server.service import saved_perturber


class PreviewTask(InferTask):
    """``protect_<method>``: the protected image (or its perturbation) of one case."""

    def __init__(self, method: str, export: str | None) -> None:
        super().__init__(
            type=InferType.OTHERS,
            labels=None,
            dimension=3,
            description=f"MedUE preview: the image protected with {method}",
            config={"method": method, "preset": DEFAULT_PRESET, "epsilon": None,
                    "perturbation": False},
        )  # fmt: skip
        self.method = method
        self.export = Path(export) if export else None

    def is_valid(self) -> bool:
        return True

    def __call__(self, request):
        image = Path(request["image"])
        # an uploaded file (no image id) is named by its file name without the image extension
        case = request.get("medue_case") or Case(strip_extension(image), image)
        epsilon = request.get("epsilon")
        budget = BudgetRequest(
            preset=None if epsilon is not None else request.get("preset") or DEFAULT_PRESET,
            epsilon=float(epsilon) if epsilon is not None else None,
        )
        box = request.get("box")
        settings = ProtectSettings(
            method=self.method, budget=budget, roi=RoiSpec(box=tuple(box) if box else None),
            seed=int(request.get("seed", 0)),
        )  # fmt: skip
        perturber = saved_perturber(self.export, self.method) if self.export else None
        preview = preview_case(case, settings, perturber)
        out = Path(tempfile.mkdtemp(prefix="medue-preview-")) / f"{case.image_id}.nii"
        write_preview(preview, out, perturbation=bool(request.get("perturbation")))
        return str(out), {"metrics": preview.metrics, "budget": preview.budget,
                          "method": self.method, "fitted": perturber is not None}  # fmt: skip


class UnknownImage(InputError):
    """An image id the datastore does not hold."""


def datastore_case(datastore, image_id: str) -> Case:
    """The case MONAI Label's datastore holds under ``image_id`` (its final label, if any)."""
    uri = datastore.get_image_uri(image_id) if image_id in datastore.list_images() else ""
    if not uri or not Path(uri).is_file():
        raise UnknownImage(image_id, "no such image in the studies")
    labels = datastore.get_labels_by_image_id(image_id)
    label = Path(datastore.get_label_uri(labels["final"], "final")) if "final" in labels else None
    return Case(image_id, Path(uri), label)
