"""A protect job request, as JSON over HTTP, checked and turned into the engine's settings.

The body of ``POST /protect/jobs``::

    {"method": "pattern-blocks",          # any of medue.methods.METHODS (default: the default)
     "images": "all" | ["brain1", ...],   # image ids of the studies folder (default "all")
     "preset": "balanced" | "epsilon": 6, # one of the presets, or max change in native units
     "roi": {"labels": [1]} | {"box": [z0, y0, x0, z1, y1, x1]},  # default: the dataset's labels
     "seed": 0, "iterations": null, "top_k": null,   # method settings (top_k: SALM only)
     "export": "name",                    # release folder under the export folder (default:
                                          # method-preset, e.g. "pattern-blocks-balanced")
     "store": false,                      # PACS only: store each protected series back (STOW-RS)
     "check": false | true | {"epochs": 10}}  # then a victim check of the release (segmentation)

Everything is checked here, before a job exists: each problem is one :class:`RequestError` with a
message naming the field. Names that become paths (export, image ids) must be plain names: no
path separators, no ``..``, no leading dot.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from medue.budget import DEFAULT_PRESET, PRESETS, BudgetRequest
from medue.job import ProtectSettings
from medue.job.check import CheckSettings
from medue.methods import CLASSIFICATION_METHODS, DEFAULT_METHOD, METHODS
from medue.prepare import RoiSpec

PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FIELDS = {
    "method",
    "images",
    "preset",
    "epsilon",
    "roi",
    "seed",
    "iterations",
    "top_k",
    "export",
    "store",
    "check",
}


class RequestError(ValueError):
    """A request that cannot become a job; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ProtectRequest:
    """A checked request: the job's settings, its images (None: all), its release name and
    whether to store the protected series back in the PACS."""

    settings: ProtectSettings
    images: tuple[str, ...] | None
    export: str
    store: bool = False

    def as_dict(self) -> dict:
        return {"settings": self.settings.as_dict(), "images": self.images, "export": self.export,
                "store": self.store}  # fmt: skip

    @classmethod
    def from_dict(cls, saved: dict) -> ProtectRequest:
        """Back from :meth:`as_dict` (the job record on disk)."""
        settings = dict(saved["settings"])
        roi = settings.pop("roi")
        budget = settings.pop("budget")
        check = settings.pop("check", None)
        return cls(
            settings=ProtectSettings(
                **settings,
                check=CheckSettings(
                    **{k: tuple(v) if isinstance(v, list) else v for k, v in check.items()}
                )
                if check
                else None,  # fmt: skip
                roi=RoiSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in roi.items()}),
                budget=BudgetRequest(**budget),
            ),
            images=tuple(saved["images"]) if saved["images"] is not None else None,
            export=saved["export"],
            store=saved.get("store", False),
        )


def parse_request(body: Any, known_images: set[str]) -> ProtectRequest:
    """Check a decoded JSON body against the methods, presets and the dataset's image ids."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        known = ", ".join(sorted(FIELDS))
        raise RequestError(f"unknown field(s) {', '.join(unknown)}; known: {known}")
    method = body.get("method", DEFAULT_METHOD)
    if method not in METHODS:
        raise RequestError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    budget = _budget(body.get("preset"), body.get("epsilon"))
    settings = ProtectSettings(
        method=method,
        roi=_roi(body.get("roi")),
        budget=budget,
        seed=_integer(body.get("seed", 0), "seed", minimum=0),
        iterations=_optional_integer(body.get("iterations"), "iterations"),
        top_k=_top_k(body.get("top_k")),
        check=_check(body.get("check", False), method),
    )
    images = _images(body.get("images", "all"), known_images)
    default_export = f"{method}-{budget.preset or f'eps{budget.epsilon:g}'.replace('+', '')}"
    export = plain_name(body.get("export", default_export), "export")
    store = body.get("store", False)
    if not isinstance(store, bool):
        raise RequestError(f"store must be true or false, got {store!r}")
    return ProtectRequest(settings, images, export, store)


def plain_name(value: Any, field: str) -> str:
    """``value`` if it is a plain file name (no separators, no ``..``); else RequestError."""
    if isinstance(value, str) and len(value) > 128:
        raise RequestError(f"{field} is too long ({len(value)} characters; at most 128)")
    if not isinstance(value, str) or not PLAIN_NAME.match(value) or ".." in value:
        raise RequestError(
            f"{field} must be a plain name (letters, digits, '.', '_', '-'; no '/', '\\' or "
            f"'..'), got {value!r}"
        )
    return value


def _budget(preset: Any, epsilon: Any) -> BudgetRequest:
    if preset is not None and epsilon is not None:
        raise RequestError("give either preset or epsilon, not both")
    if epsilon is not None:
        number = isinstance(epsilon, int | float) and not isinstance(epsilon, bool)
        if not number or not math.isfinite(epsilon) or not epsilon > 0:
            raise RequestError(
                f"epsilon is the max change per voxel in native units (e.g. HU) and must be a "
                f"positive number, got {epsilon!r}"
            )
        return BudgetRequest(preset=None, epsilon=float(epsilon))
    preset = DEFAULT_PRESET if preset is None else preset
    if preset not in PRESETS:
        raise RequestError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    return BudgetRequest(preset=preset)


def _roi(roi: Any) -> RoiSpec:
    if roi is None or roi == "labels":
        return RoiSpec()
    if not isinstance(roi, dict) or len(roi) != 1 or not set(roi) <= {"labels", "box"}:
        raise RequestError(
            'roi must be {"labels": [1, 2]} or {"box": [z0, y0, x0, z1, y1, x1]} (voxels)'
        )
    if "labels" in roi:
        values = _integer_list(roi["labels"], "roi.labels", minimum=1)
        if not values:
            raise RequestError("roi.labels must list at least one label value")
        return RoiSpec(label_values=values)
    box = _integer_list(roi["box"], "roi.box", minimum=0)
    if len(box) != 6 or any(box[i] >= box[i + 3] for i in range(3)):
        raise RequestError(f"roi.box must be z0, y0, x0, z1, y1, x1, each start < end; got {box}")
    return RoiSpec(box=box)


def _images(images: Any, known: set[str]) -> tuple[str, ...] | None:
    if images == "all":
        return None
    if not isinstance(images, list) or not images:
        raise RequestError('images must be "all" or a non-empty list of image ids')
    for image in images:
        plain_name(image, "each image id")
    missing = sorted(set(images) - known)
    if missing:
        raise RequestError(f"unknown image id(s): {', '.join(missing)}", status=404)
    return tuple(dict.fromkeys(images))


def _check(value: Any, method: str) -> CheckSettings | None:
    if value is False or value is None:
        return None
    if method in CLASSIFICATION_METHODS:
        raise RequestError("check trains segmentation victims; for SALM use medue evaluate")
    if value is True:
        return CheckSettings()
    if not isinstance(value, dict) or set(value) - {"epochs"}:
        raise RequestError(f'check must be true, false or {{"epochs": N}}, got {value!r}')
    return CheckSettings(epochs=_integer(value.get("epochs", 10), "check.epochs", minimum=1))


def _top_k(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise RequestError(f"top_k is a share of the voxels in (0, 1], got {value!r}")
    # (NaN fails 0 < value: it compares false)
    return float(value)


def _integer(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RequestError(f"{field} must be an integer >= {minimum}, got {value!r}")
    return value


def _optional_integer(value: Any, field: str) -> int | None:
    return None if value is None else _integer(value, field, minimum=1)


def _integer_list(value: Any, field: str, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise RequestError(f"{field} must be a list of integers, got {value!r}")
    return tuple(_integer(v, field, minimum) for v in value)
