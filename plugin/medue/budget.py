"""Perturbation budgets: what a user asks for (a preset or epsilon in native units) -> numbers.

A budget is always resolved per image, because the same preset means different native amounts in
different windows; the resolved numbers go into the manifest. Epsilon is never smaller than one
storable step: a budget below what the file can hold would round away to nothing, so a preset
that resolves below it is raised to one step (recorded), and an explicit ``--epsilon`` below it is
refused for that image (a promise of "at most 0.5 HU" cannot be kept on a 2-HU grid).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from medue.errors import InputError
from medue.intensity import Window
from medue.io import StoredEncoding

# Fraction of the intensity window width; chosen from the DSC-PSNR curve in docs/BENCHMARKS.md.
PRESETS: dict[str, float] = {
    "imperceptible": 1.5 / 255,
    "balanced": 3.0 / 255,
    "strong": 6.0 / 255,
    "robust": 3.0 / 255,  # balanced's budget, spent by a generator trained against countermeasures
}
DEFAULT_PRESET = "balanced"
ROBUST_PRESET = "robust"


@dataclass(frozen=True)
class BudgetRequest:
    """What the user asked for: a preset name, or epsilon in native units (e.g. HU)."""

    preset: str | None = DEFAULT_PRESET
    epsilon: float | None = None

    def __post_init__(self) -> None:
        if self.epsilon is not None and not self.epsilon > 0:
            raise InputError(None, f"--epsilon must be a positive number, got {self.epsilon}")
        if self.epsilon is None and self.preset not in PRESETS:
            names = ", ".join(PRESETS)
            raise InputError(None, f"unknown preset {self.preset!r} (choose one of: {names})")


@dataclass(frozen=True)
class Budget:
    """The budget for one image: native units and the same in the [0, 1] window space."""

    epsilon_native: float
    step_native: float
    window: Window

    @property
    def epsilon(self) -> float:
        """Epsilon in normalised (window) units."""
        return self.window.native_to_delta(self.epsilon_native)

    @property
    def step(self) -> float:
        """The smallest storable change in normalised units (0 for float storage)."""
        return self.window.native_to_delta(self.step_native)

    def as_dict(self) -> dict:
        return {**asdict(self), "window": self.window.as_dict(), "epsilon_normalised": self.epsilon}


def resolve_budget(request: BudgetRequest, window: Window, encoding: StoredEncoding) -> Budget:
    """Turn a request into native numbers for one image, snapped to whole storable steps."""
    if request.epsilon is not None:
        epsilon = float(request.epsilon)
    else:
        epsilon = PRESETS[request.preset] * window.width
    step = encoding.native_step
    if step and request.epsilon is not None and epsilon < step:
        raise InputError(
            None,
            f"--epsilon {epsilon:g} is below the smallest change this file can hold "
            f"({step:g} native units: stored {encoding.describe()}); use at least {step:g}",
        )
    if step:
        epsilon = max(step, step * (epsilon // step))
    return Budget(epsilon_native=epsilon, step_native=step, window=window)
