"""When UMed's min-min fit stops: its generator-step loss has plateaued, or the steps are spent.

The generator-step loss is the surrogate's segmentation loss (Dice + CE) on the perturbed
patches, measured right after the surrogate's own step; min-min drives it down while the
surrogate learns the perturbation. It is noisy from step to step (every step draws new patches),
so the rule looks at means over whole windows of ``window`` steps, only at window ends, as early
stopping with patience does: a window *improves* when its mean is at least ``tolerance``
(relative) below the best earlier window's; the fit stops when ``patience`` windows in a row have
not improved, and never before ``min_steps``. ``--iterations`` stays the maximum; ``window = 0``
turns the rule off.

The rule did not fire within the default 300 steps on the two CT slabs of
``benchmarks/fit_ct_slabs.py`` (docs/BENCHMARKS.md §5c), nor within 400 on the 2D sample data:
their loss was still falling. It ends fits whose loss has flattened out, and only those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlateauRule:
    """Stop when ``patience`` windows in a row are not ``tolerance`` below the best window."""

    window: int = 50
    """Steps per window (0: never stop before the maximum)."""
    tolerance: float = 0.05
    """Relative improvement (a fraction) a window's mean loss must show over the best so far."""
    patience: int = 2
    """Windows in a row without improvement that stop the fit."""
    min_steps: int = 100
    """No stop before this many steps."""

    def due(self, steps: int) -> bool:
        """Whether the rule is checked after ``steps`` steps (a window's end, past the minimum)."""
        return self.window > 0 and steps % self.window == 0 and steps >= self.min_steps

    def reason(self, losses: Sequence[float]) -> str | None:
        """Why to stop after ``len(losses)`` steps (one generator-step loss per step), or None."""
        steps, window = len(losses), self.window
        if not self.due(steps):
            return None
        means = [float(np.mean(losses[i : i + window])) for i in range(0, steps, window)]
        best, stale = 0, 0
        for index in range(1, len(means)):
            if means[index] < (1.0 - self.tolerance) * means[best]:
                best, stale = index, 0
            else:
                stale += 1
        if stale < max(self.patience, 1):
            return None
        first = best * window + 1
        return (
            f"plateau: the mean generator-step loss of the last {stale} window{'s' * (stale > 1)} "
            f"of {window} steps "
            f"({', '.join(f'{m:.4f}' for m in means[-stale:])}) came no more than "
            f"{self.tolerance:.0%} below the best window's, {means[best]:.4f} "
            f"(steps {first}-{first + window - 1})"
        )


def maximum_reason(steps: int) -> str:
    """The reason recorded when the fit ran all its steps."""
    return f"maximum: ran all {steps} steps (--iterations) before any plateau"
