"""A preview request and its answer: the protected image and what it changed.

``POST /infer/protect_<method>?image=ID&output=all`` answers one ``multipart/form-data`` body
(RFC 7578) with two parts: ``params`` (JSON: ``metrics`` and ``budget``) and ``image`` (the
protected image, float32 NIfTI-1 (plain or gzip) on the image's own grid, native units).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from MedUEProtectLib.errors import BadUrl, RequestRefused


@dataclass(frozen=True)
class PreviewSettings:
    """What to preview: an image (server id, or ``upload``: a local file sent to the server),
    a method, and either a preset or ``epsilon`` (max change per voxel, native units: HU on
    CT). ``box`` is the ROI as voxels ``[z0, y0, x0, z1, y1, x1]`` (ends exclusive); None uses
    the image's label map on the server. ``perturbation`` asks for the change instead."""

    method: str
    image_id: str | None = None
    upload: str | None = None
    preset: str | None = "balanced"
    epsilon: float | None = None
    box: list[int] | None = None
    perturbation: bool = False

    def params(self) -> dict:
        """The ``params`` form field of the preview request."""
        if self.epsilon is not None and not self.epsilon > 0:
            raise RequestRefused(f"epsilon must be a positive number, got {self.epsilon:g}")
        if self.upload and self.box is None:
            raise RequestRefused(
                "a volume that is not on the server has no label map there: choose a segment or "
                "an ROI box as the ROI"
            )
        params: dict = {"perturbation": bool(self.perturbation)}
        if self.epsilon is not None:
            params["epsilon"] = float(self.epsilon)
            params["preset"] = None
        else:
            params["preset"] = self.preset
        if self.box is not None:
            params["box"] = [int(v) for v in self.box]
        return params


@dataclass(frozen=True)
class PreviewResult:
    """A preview written to ``path``, with the server's measurements.

    ``metrics``: ``psnr_db`` (whole image), ``ssim`` (around the changes), ``max_abs_change``
    (native units), ``noise_sigma`` ...; ``budget``: ``epsilon_native``, ``window``
    (``low``/``high``/``name``, native units), ``rule`` (how epsilon was chosen).
    """

    path: Path
    metrics: dict
    budget: dict
    method: str
    fitted: bool = False

    @property
    def window(self) -> tuple[float, float]:
        """The intensity window the method worked in, ``(low, high)`` in native units."""
        window = self.budget.get("window") or {}
        return float(window.get("low", 0.0)), float(window.get("high", 1.0))

    @property
    def is_ct(self) -> bool:
        """Whether the server read the image as CT (its window is a CT window, in HU)."""
        return str((self.budget.get("window") or {}).get("name", "")).startswith("CT")


def split_multipart(response) -> tuple[dict, bytes]:
    """The ``params`` JSON and the ``image`` bytes of a preview answer (RFC 7578 body)."""
    kind = response.headers.get("content-type", "")
    body = response.content
    if not kind.startswith("multipart/"):
        raise BadUrl(f"the preview answer is {kind or 'untyped'}, not multipart: is this MedUE?")
    boundary = kind.split("boundary=", 1)[-1].split(";")[0].strip().strip('"').encode()
    numbers, image = None, None
    for part in body.split(b"--" + boundary):
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        if b'name="params"' in head:
            numbers = json.loads(content.decode("utf-8"))
        elif b'name="image"' in head:
            image = content
    if numbers is None or image is None:
        raise BadUrl("the preview answer lacks its image or its numbers: is this MedUE's server?")
    return numbers, image


def unit_name(is_ct: bool) -> str:
    """The unit epsilon and changes are given in: HU on CT (Hounsfield units), else the image's
    own intensity units (MR and most other images have no physical unit)."""
    return "HU" if is_ct else "units"


def looks_like_ct(minimum: float) -> bool:
    """The server's own guess for a file without a modality tag: values reaching air on the
    Hounsfield scale (about -1000 HU) are CT."""
    return minimum <= -900.0


def describe(result: PreviewResult) -> str:
    """The read-out: how visible the change is to a reader (JND at 1x, 2x and 4x zoom at the
    window, from the server's display model; under 1 is not seen), then PSNR, SSIM and max
    change, and how epsilon was chosen."""
    unit = unit_name(result.is_ct)
    metrics, budget = result.metrics, result.budget
    parts = [
        f"PSNR {metrics.get('psnr_db', float('nan')):.1f} dB",
        f"SSIM {metrics.get('ssim', float('nan')):.5f}",
        f"max change {metrics.get('max_abs_change', float('nan')):g} {unit}",
    ]
    epsilon = budget.get("epsilon_native")
    if epsilon is not None:
        rule = budget.get("rule")
        parts.append(f"ε {epsilon:g} {unit}" + (f" ({rule})" if rule else ""))
    return " · ".join(seen_by_reader(metrics) + parts)


def seen_by_reader(metrics: dict) -> list:
    """``["JND 0.98 at 1×, 3.33 at 2×, 6.32 at 4× (CT soft_tissue): not seen at 1×"]``, or
    nothing from a server that does not measure it."""
    jnd = metrics.get("jnd")
    if not jnd:
        return []
    values = ", ".join(f"{jnd[z]:.2f} at {z.replace('x', '×')}" for z in ("1x", "2x", "4x"))
    seen = [z.replace("x", "×") for z in ("1x", "2x", "4x") if jnd[z] >= 1.0]
    verdict = f"seen from {seen[0]} zoom" if seen else "not seen up to 4× zoom"
    return [f"JND {values} ({jnd.get('window', 'its window')}): {verdict}"]
