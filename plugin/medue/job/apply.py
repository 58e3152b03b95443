"""Protect one case: perturb, round to the stored dtype within budget, write, reload, measure.

Every number recorded here is measured on the file as written and read back, never on the array
in memory: that is what a downloader gets. The check runs on the staged copy, before it is moved
into place, so a copy that fails it is never released.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from medue import metrics
from medue.datasets import LoadedCase
from medue.errors import InputError
from medue.intensity import Window, apply_within_budget, reading_windows
from medue.io import Volume, write_volume
from medue.methods.base import Perturber
from medue.perception import jnd_summary
from medue.perception.ceiling import fit_under_ceiling
from medue.prepare import PreparedCase
from medue.visibility import visibility


@dataclass
class CaseResult:
    """What the manifest records for one protected image."""

    image_id: str
    source: str
    output: str
    stored: str  # what the file holds, e.g. "int16 (12 bits stored), native = 1 * stored -1024"
    epsilon_native: float
    budget_rule: str  # how epsilon was chosen, e.g. "1.5 x noise SD 8.8"
    window: dict
    metrics: dict
    seconds: float
    skipped_objects: list[str] = field(default_factory=list)  # DICOM: RT Dose, SR, ... beside it
    kept: bool = False  # True: an earlier run of the same job wrote this copy; this run kept it

    def as_dict(self) -> dict:
        return asdict(self)


def protect_case(
    loaded: LoadedCase,
    prepared: PreparedCase,
    perturber: Perturber,
    output: Path,
    derivation: str,
    before_commit: Callable[[CaseResult, Path], None] | None = None,
) -> tuple[CaseResult, Volume]:
    """Write one protected copy to ``output``; returns its record and the reloaded file.

    ``before_commit`` is called with the record and the staged copy's path once the staged copy
    has passed its check, just before it is moved onto ``output`` (see ``io.write_volume``)."""
    started = time.monotonic()
    image = loaded.image
    budget = prepared.budget
    protected, held = held_under_preset(image, prepared, perturber)
    region = prepared.allowed.reshape(image.shape)
    checked: dict = {}

    def verify(reloaded: Volume) -> None:
        """The staged file as a downloader will read it: same grid, change within budget."""
        if reloaded.shape != image.shape or not reloaded.geometry.matches(image.geometry):
            raise InputError(output, "the written copy does not reload on the source's grid")
        measured = measure_change(image.array, reloaded.array, region, budget.noise_sigma,
                                  image.encoding.psnr_peak, budget.window, True)  # fmt: skip
        if measured["max_abs_change"] > budget.epsilon_native + 1e-6:
            raise InputError(
                output,
                f"the written copy changes a voxel by {measured['max_abs_change']:g}, over the "
                f"budget of {budget.epsilon_native:g}; not released",
            )
        record = _record(loaded, prepared, output, measured, started, held)
        checked.update(volume=reloaded, result=record)

    def commit(staged: Path) -> None:
        if before_commit is not None:
            before_commit(checked["result"], staged)

    write_volume(image.with_array(protected), output, derivation, verify=verify,
                 before_commit=commit)  # fmt: skip
    return checked["result"], checked["volume"]


def _record(
    loaded: LoadedCase,
    prepared: PreparedCase,
    output: Path,
    measured: dict,
    started: float,
    held: str = "",
) -> CaseResult:
    image, budget = loaded.image, prepared.budget
    return CaseResult(
        image_id=prepared.image_id,
        source=str(loaded.case.image.absolute()),
        output=str(output),
        stored=image.encoding.describe(),
        epsilon_native=budget.epsilon_native,
        budget_rule="; ".join(filter(None, (budget.rule, held))),
        window=budget.window.as_dict(),
        metrics=measured,
        seconds=round(time.monotonic() - started, 2),
        skipped_objects=list(image.metadata.get("skipped", [])),
    )


def held_under_preset(
    image: Volume, prepared: PreparedCase, perturber: Perturber
) -> tuple[np.ndarray, str]:
    """The protected voxel values (native units, storable, within budget, shaped like
    ``image``), scaled down where the preset's JND ceilings require it at the budget's window
    (``medue.perception.ceiling``), and the budget rule's words for that step ("" when nothing
    was scaled; always "" for an explicit epsilon, which has no ceilings)."""
    ceilings = prepared.budget.ceilings()
    change = _planned_change(image, prepared, perturber)
    if not ceilings:
        return _render(image, prepared, change, 1.0), ""
    fit = fit_under_ceiling(
        image.array,
        lambda scale: _render(image, prepared, change, scale),
        prepared.budget.window,
        ceilings,
    )
    return fit.protected, fit.note(ceilings)


def _planned_change(image: Volume, prepared: PreparedCase, perturber: Perturber) -> np.ndarray:
    delta = perturber.perturb(prepared).reshape(image.shape)
    change = prepared.budget.window.delta_to_native(delta)
    padding = image.metadata.get("padding_native")  # DICOM voxels outside the scanned field
    if padding is not None:
        change[(image.array >= padding[0]) & (image.array <= padding[1])] = 0.0
    return change


def _render(image: Volume, prepared: PreparedCase, change: np.ndarray, scale: float) -> np.ndarray:
    """``change`` x ``scale`` added and rounded to storable values within budget; a voxel the
    method changes keeps at least one storable step, so scaling never erases the protection."""
    changed = change != 0
    values = change[changed]
    if scale != 1.0:
        values = np.sign(values) * np.maximum(np.abs(values * scale), image.encoding.native_step)
    protected = np.asarray(image.array, dtype=np.float64).copy()
    original = protected[changed]
    budget = prepared.budget.epsilon_native
    protected[changed] = apply_within_budget(original, values, budget, image.encoding)
    return protected


def measure_change(
    original: np.ndarray,
    protected: np.ndarray,
    region: np.ndarray | None = None,
    sigma: float | None = None,
    peak: float | None = None,
    window: Window | None = None,
    all_windows: bool = False,
) -> dict:
    """PSNR/SSIM over the image's own dynamic range, plus native-unit change statistics; with the
    ``region`` the method may change, also the noise sigma (``sigma``, or estimated), the change
    in units of it and the PSNR over the region's box (``medue.visibility``). With ``peak`` (an
    8-bit file's full scale, ``StoredEncoding.psnr_peak``) also ``psnr_peak_db``, the PSNR 2D
    imaging papers quote (peak 255). With ``window`` also ``jnd``: what a reader sees at that
    window on a calibrated display at 1x, 2x and 4x zoom (``medue.perception.jnd_summary``), and
    with ``all_windows`` the same at every clinical window a reader may use
    (``medue.intensity.reading_windows``: CT's soft-tissue, brain, lung and bone windows)."""
    original = np.asarray(original, dtype=np.float64)
    protected = np.asarray(protected, dtype=np.float64)
    data_range = float(original.max() - original.min()) or 1.0
    seen = {} if region is None else visibility(original, protected, region, data_range, sigma)
    full_scale = {} if peak is None else {"psnr_peak_db": metrics.psnr(original, protected, peak)}
    seen_by_reader = {}
    if window is not None:
        others = reading_windows(window).values() if all_windows else ()
        seen_by_reader = {"jnd": jnd_summary(original, protected, window, others=others)}
    return (
        seen
        | full_scale
        | seen_by_reader
        | {
            "psnr_db": metrics.psnr(original, protected, data_range=data_range),
            "ssim": _ssim(original, protected, data_range),
            "data_range": data_range,
            "max_abs_change": metrics.max_abs_change(original, protected),
            "rms_change": metrics.rms_change(original, protected),
            "changed_fraction": float(np.mean(original != protected)),
        }
    )


def _ssim(original: np.ndarray, protected: np.ndarray, data_range: float) -> float:
    """3D (or 2D) SSIM where every axis fits the window; slice-wise for thin stacks."""
    window = metrics.ssim_window_size()
    if min(original.shape) >= window:
        return metrics.ssim(original, protected, data_range=data_range)
    if original.ndim == 3 and min(original.shape[1:]) >= window:
        return metrics.ssim_slices(original, protected, data_range=data_range)
    return float("nan")  # too small for an 11-voxel SSIM window
