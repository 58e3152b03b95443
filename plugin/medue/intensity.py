"""Intensity windows: native units <-> the [0, 1] range the networks work in, and back.

A perturbation budget means nothing without its window: 6 HU is 1.5% of a 400-HU soft-tissue
window and 7.5% of an 80-HU brain window. So every window here is explicit, in native units, and
recorded in manifests and reports. CT uses fixed Hounsfield windows; MR and unknown modalities use
percentiles of the volume's own intensities, because MR units are scanner-dependent.

Only *changes* are mapped back to native units (``delta_to_native``): values outside the window
are never clipped in the written file, so the protected copy differs from the original only by the
perturbation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from medue.errors import InputError
from medue.io.volume import StoredEncoding

# Clinical CT windows as (level, width) in HU.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "bone": (300.0, 2000.0),
    "wide": (0.0, 2000.0),
}
MR_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Window:
    """A native-unit intensity interval mapped linearly onto [0, 1]."""

    low: float
    high: float
    name: str = "custom"

    def __post_init__(self) -> None:
        if not np.isfinite([self.low, self.high]).all() or self.high <= self.low:
            raise InputError(None, f"invalid intensity window [{self.low}, {self.high}]")

    @property
    def width(self) -> float:
        return self.high - self.low

    @classmethod
    def from_level_width(cls, level: float, width: float, name: str = "custom") -> Window:
        return cls(level - width / 2.0, level + width / 2.0, name)

    def normalise(self, native: np.ndarray) -> np.ndarray:
        """Native values to [0, 1] (float32, clipped at the window edges)."""
        scaled = (np.asarray(native, dtype=np.float32) - self.low) / self.width
        return np.clip(scaled, 0.0, 1.0)

    def denormalise(self, normalised: np.ndarray) -> np.ndarray:
        """[0, 1] back to native units (float64)."""
        return np.asarray(normalised, dtype=np.float64) * self.width + self.low

    def delta_to_native(self, delta: np.ndarray) -> np.ndarray:
        """A normalised perturbation expressed in native units."""
        return np.asarray(delta, dtype=np.float64) * self.width

    def native_to_delta(self, native_change: float) -> float:
        """A native-unit budget (e.g. 6 HU) in normalised units."""
        return float(native_change) / self.width

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


def default_window(array: np.ndarray, modality: str, ct_window: str = "soft_tissue") -> Window:
    """The window used when the user names none: clinical for CT, percentiles otherwise."""
    if modality.upper() == "CT":
        if ct_window not in CT_WINDOWS:
            raise InputError(
                None, f"unknown CT window {ct_window!r} (known: {', '.join(CT_WINDOWS)})"
            )
        return Window.from_level_width(*CT_WINDOWS[ct_window], name=f"CT {ct_window}")
    return percentile_window(array)


def reading_windows(window: Window) -> dict[str, Window]:
    """The windows a reader may look at the image in, by name: for a CT window, the clinical CT
    windows (soft tissue, brain, lung, bone) and ``window`` itself; otherwise ``window`` alone
    (MR and photographs have no standard windows; the job's own window is how they are read)."""
    named = {window.name: window}
    if window.name.startswith("CT"):
        for name, (level, width) in CT_WINDOWS.items():
            if name != "wide":
                named.setdefault(f"CT {name}", Window.from_level_width(level, width, f"CT {name}"))
    return named


def percentile_window(
    array: np.ndarray, percentiles: tuple[float, float] = MR_PERCENTILES
) -> Window:
    """Window between two percentiles of the non-background voxels (background = the minimum)."""
    values = np.asarray(array, dtype=np.float64).ravel()
    foreground = values[values > values.min()] if values.size else values
    sample = foreground if foreground.size else values
    if sample.size == 0:
        raise InputError(None, "cannot choose an intensity window for an empty image")
    low, high = np.percentile(sample, percentiles)
    if high <= low:
        high = low + 1.0
    return Window(float(low), float(high), name=f"percentiles {percentiles[0]}-{percentiles[1]}")


def apply_within_budget(
    original: np.ndarray, change: np.ndarray, epsilon: float, encoding: StoredEncoding
) -> np.ndarray:
    """Add a native ``change``, snapped to storable values, with |result - original| <= epsilon.

    Rounding to the stored dtype can push a voxel past the budget (a 2.5-HU change rounds to 3 in
    int16); such voxels are pulled back to the largest storable step inside the budget. The result
    is what a reload of the written file returns: the guarantee holds on disk, not just in memory.
    """
    original = np.asarray(original, dtype=np.float64)
    clipped = np.clip(np.asarray(change, dtype=np.float64), -epsilon, epsilon)
    result = encoding.quantise(original + clipped)
    over = np.abs(result - original) > epsilon
    if np.any(over):
        step = encoding.native_step
        inside = np.floor(epsilon / step) * step if step else epsilon
        pulled = original + np.sign(result - original) * inside
        result[over] = encoding.quantise(pulled[over])
    still = np.abs(result - original) > epsilon
    if np.any(still):  # float storage: original + eps rounded one ulp past the budget
        stored = encoding.to_stored(result[still])
        result[still] = encoding.to_native(
            np.nextafter(stored, encoding.to_stored(original[still]))
        )
    return result
