"""Hold a change under a JND ceiling: the per-image step of presets defined by visibility.

A preset such as "balanced" promises what a reader sees ("under 1 JND at 1x zoom at the reading
window"), not a number of grey levels: the same +-3 levels is invisible on a noisy, textured
image and plain on a flat one. ``fit_under_ceiling`` measures the planned change with the JND
model (``medue.perception.jnd``) and, where it is over the ceiling at a zoom, scales the change
down and renders it again (the caller rounds it to storable values, so the result is what is
written), until it is under or ``rounds`` run out. JND grows about in proportion to a change's
amplitude below masking, so one or two rounds usually suffice; a change whose single smallest
storable step is already over the ceiling cannot go lower, and the result says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from medue.intensity import Window
from medue.perception.display import Display
from medue.perception.jnd import jnd_volume

MARGIN = 0.95  # aim this far under the ceiling: the model is re-run on the rounded change


@dataclass(frozen=True)
class CeilingFit:
    """The change as it will be written, and how it was held under the ceiling.

    ``protected``: native values, shaped like the original; ``scale``: the factor applied to the
    planned change (1 = untouched); ``seen``: the worst patch's JND per zoom name ("1x", ...) of
    ``protected``; ``met``: every zoom is at or under its ceiling."""

    protected: np.ndarray
    scale: float
    seen: dict[str, float]
    met: bool

    def note(self, ceilings: Mapping[str, float]) -> str:
        """The budget rule's words for this step, e.g. "scaled by 0.62 to stay under 1 JND at
        1x"; empty when nothing was scaled and the ceiling held."""
        limit = " and ".join(f"{c:g} JND at {zoom}" for zoom, c in ceilings.items())
        if self.scale == 1.0 and self.met:
            return ""
        if self.met:
            return f"scaled by {self.scale:.2f} to stay under {limit}"
        seen = ", ".join(f"{v:.2f} at {z}" for z, v in self.seen.items())
        return f"scaled by {self.scale:.2f}; the smallest storable change is still {seen} JND"


def fit_under_ceiling(
    original: np.ndarray,
    render: Callable[[float], np.ndarray],
    window: Window,
    ceilings: Mapping[str, float],
    display: Display | None = None,
    rounds: int = 4,
) -> CeilingFit:
    """Scale a planned change until its JND at ``window`` is under ``ceilings`` at every zoom.

    ``original``: native values, 2D (H, W) or 3D (z, y, x); ``render(scale)``: the protected
    values for the planned change times ``scale`` in (0, 1], rounded to what the file stores;
    ``ceilings``: zoom name ("1x", "2x", "4x") -> most JND allowed there. ``ValueError`` for an
    empty ``ceilings`` or a zoom name that is not ``<number>x``.
    """
    if not ceilings:
        raise ValueError("need at least one JND ceiling, e.g. {'1x': 1.0}")
    zooms = {name: _zoom(name) for name in ceilings}
    scale, protected = 1.0, render(1.0)
    for _ in range(rounds):
        seen = _seen(original, protected, window, display, zooms)
        over = max(seen[name] / ceilings[name] for name in ceilings)
        if over <= 1.0:
            return CeilingFit(protected, scale, seen, True)
        lower = _next_lower(render, protected, scale * MARGIN / over)
        if lower is None:  # already the smallest change ``render`` writes
            return CeilingFit(protected, scale, seen, False)
        scale, protected = lower
    seen = _seen(original, protected, window, display, zooms)
    return CeilingFit(protected, scale, seen, all(seen[n] <= ceilings[n] for n in ceilings))


def _seen(original, protected, window, display, zooms: dict[str, float]) -> dict[str, float]:
    return {n: jnd_volume(original, protected, window, display, z).worst for n, z in zooms.items()}


def _next_lower(
    render: Callable[[float], np.ndarray], current: np.ndarray, scale: float
) -> tuple[float, np.ndarray] | None:
    """The first scale at or below ``scale`` whose rendering differs from ``current`` (rounding
    to whole stored steps can swallow a small reduction); None below 1/1000."""
    while scale >= 1e-3:
        candidate = render(scale)
        if not np.array_equal(candidate, current):
            return scale, candidate
        scale *= 0.8
    return None


def _zoom(name: str) -> float:
    try:
        zoom = float(name.removesuffix("x"))
    except ValueError:
        zoom = -1.0
    if not name.endswith("x") or zoom <= 0:
        raise ValueError(f"a zoom is named like '1x' or '4x', got {name!r}")
    return zoom
