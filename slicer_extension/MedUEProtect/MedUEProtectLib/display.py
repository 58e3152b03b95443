"""What the annotator looks at: a clinical window shared by original and protected, the change
as a colour overlay, a flicker between the two, and the numbers.

All intensities are native units (HU on CT). Arrays are numpy ``(z, y, x)`` as Slicer's
``arrayFromVolume`` returns them. The overlay is a label map: 0 where nothing changed (drawn
transparent), then ``levels`` shades of blue for decreases and of red for increases, binned by
``|change| / ε``; so a change of a few HU, invisible in a 400-HU grey window, shows at full
colour: the overlay amplifies the change by ``window width / ε`` relative to the grey display.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Clinical windows, (level, width) in HU: the soft-tissue window is the server's CT default.
CT_WINDOWS = {"soft_tissue": (40.0, 400.0), "brain": (40.0, 80.0), "lung": (-600.0, 1500.0),
              "bone": (300.0, 2000.0)}  # fmt: skip
PERCENTILES = (0.5, 99.5)  # other modalities: the window MedUE's server uses (its foreground)
LEVELS = 4  # colour shades per sign
FLICKER_MS = 500  # a 1 Hz on/off cycle: the rate flicker comparison is usually read at


@dataclass(frozen=True)
class Window:
    """A display window in native units."""

    level: float
    width: float

    @property
    def low(self) -> float:
        return self.level - self.width / 2.0

    @property
    def high(self) -> float:
        return self.level + self.width / 2.0

    @classmethod
    def between(cls, low: float, high: float) -> Window:
        return cls((low + high) / 2.0, max(high - low, 1e-6))


def clinical_window(
    array: np.ndarray | None = None, is_ct: bool = False, server: tuple | None = None,
    ct_window: str = "soft_tissue",
) -> Window:  # fmt: skip
    """The window both volumes are shown at: the server's (the one the method worked in:
    ``(low, high)`` from a preview's budget) when known; else a CT window for CT; else the
    0.5-99.5 percentiles of the non-background voxels, as the server chooses it."""
    if server is not None:
        return Window.between(float(server[0]), float(server[1]))
    if is_ct:
        return Window(*CT_WINDOWS[ct_window])
    if array is None:
        raise ValueError("a window needs the image, the server's window or CT")
    values = np.asarray(array, dtype=np.float64).ravel()
    foreground = values[values > values.min()] if values.size else values
    sample = foreground if foreground.size else values
    low, high = np.percentile(sample, PERCENTILES)
    return Window.between(float(low), float(high) if high > low else float(low) + 1.0)


def difference(original: np.ndarray, protected: np.ndarray) -> np.ndarray:
    """protected - original, float32, native units; ValueError if the grids differ."""
    a, b = np.asarray(original), np.asarray(protected)
    if a.shape != b.shape:
        raise ValueError(f"the protected volume {b.shape} is not on the original's grid {a.shape}")
    return (b.astype(np.float64) - a.astype(np.float64)).astype(np.float32)


def change_labels(change: np.ndarray, epsilon: float, levels: int = LEVELS) -> np.ndarray:
    """The change as overlay labels (uint8): 0 unchanged; ``1..levels`` decreases and
    ``levels+1..2*levels`` increases, by ``|change| / epsilon`` in ``levels`` equal bins."""
    change = np.asarray(change, dtype=np.float64)
    scale = float(epsilon) if epsilon and epsilon > 0 else float(np.abs(change).max() or 1.0)
    magnitude = np.abs(change) / scale
    bins = np.clip(np.ceil(magnitude * levels), 1, levels).astype(np.uint8)
    labels = np.where(change < 0, bins, bins + levels).astype(np.uint8)
    labels[np.abs(change) <= scale * 1e-6] = 0
    return labels


def change_colours(levels: int = LEVELS) -> list[tuple[int, str, tuple[float, float, float]]]:
    """The overlay's colour table: ``(label, name, (r, g, b))`` in 0..1, lighter to stronger."""
    table = [(0, "unchanged", (0.0, 0.0, 0.0))]
    for i in range(1, levels + 1):
        strength = 0.35 + 0.65 * i / levels
        top = f"{i / levels:.0%}"
        table.append((i, f"lower by up to {top} of epsilon", (0.1, 0.4 * strength, strength)))
        table.append((levels + i, f"higher by up to {top} of epsilon",
                      (strength, 0.35 * strength, 0.1)))  # fmt: skip
    return sorted(table)


def amplification(epsilon: float, window: Window) -> float:
    """How much larger the overlay shows a change than the grey window does (width / ε)."""
    return window.width / epsilon if epsilon > 0 else float("inf")


def measure(original: np.ndarray, protected: np.ndarray, data_range: float | None = None) -> dict:
    """PSNR (dB, whole image, peak = ``data_range`` or the original's max - min), max change
    and the changed fraction, measured here (the server's SSIM is measured on its side)."""
    change = difference(original, protected).astype(np.float64)
    peak = float(data_range) if data_range else float(np.ptp(np.asarray(original)))
    mse = float(np.mean(change**2))
    psnr = float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)
    return {"psnr_db": psnr, "max_abs_change": float(np.abs(change).max()),
            "changed_fraction": float(np.count_nonzero(change) / change.size)}  # fmt: skip


def overlay_legend(epsilon: float, unit: str, window: Window) -> str:
    """One line under the overlay: its colour range and how much it amplifies."""
    gain = amplification(epsilon, window)
    return (f"colours span ±{epsilon:g} {unit} (ε); the grey window spans {window.width:g} "
            f"{unit}: the overlay shows the change ×{gain:.0f}")  # fmt: skip


class Flicker:
    """Alternate original and protected at the same window: ``tick`` each ``interval_ms``."""

    def __init__(self, interval_ms: int = FLICKER_MS) -> None:
        self.interval_ms = interval_ms
        self.showing = "original"
        self.running = False

    def start(self) -> str:
        self.running = True
        return self.showing

    def stop(self) -> str:
        """Stop on the original (what was there before the flicker)."""
        self.running, self.showing = False, "original"
        return self.showing

    def tick(self) -> str:
        """Switch and say which volume to show now (``original`` or ``protected``)."""
        self.showing = "protected" if self.showing == "original" else "original"
        return self.showing


def grey(array: np.ndarray, window: Window) -> np.ndarray:
    """``array`` at ``window`` as uint8 grey levels (for pictures outside Slicer)."""
    scaled = (np.asarray(array, dtype=np.float64) - window.low) / window.width
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def blend(grey_slice: np.ndarray, labels: np.ndarray, opacity: float = 0.8) -> np.ndarray:
    """An RGB picture: a grey slice with the overlay labels drawn over it (label 0 clear)."""
    rgb = np.repeat(np.asarray(grey_slice, dtype=np.float64)[..., None] / 255.0, 3, axis=-1)
    colours = dict((label, rgb_) for label, _, rgb_ in change_colours())
    for label, colour in colours.items():
        if label:
            where = labels == label
            rgb[where] = (1 - opacity) * rgb[where] + opacity * np.asarray(colour)
    return np.round(rgb * 255).astype(np.uint8)
