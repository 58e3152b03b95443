"""Progress bars for the CLI: one tqdm bar per phase, fed by the engine's progress callback.

The training bar says how long the fit will take at most: steps done of the maximum, the time so
far and the time left at the rate so far (``ETA <= m:ss``); a fit that stops early (UMed's
plateau rule) ends its bar there and prints why (``note``).
"""

from __future__ import annotations

import sys

from tqdm import tqdm

LABELS = {
    "prepare": "reading",
    "fit": "training",
    "apply": "protecting",
    "victims": "victim runs",
    "verify": "keys tested",
}
FORMATS = {
    "fit": "{desc}: {n_fmt}/{total_fmt} steps |{bar}| {elapsed} elapsed, ETA <= {remaining} "
    "({rate_fmt})",
}
"""tqdm ``bar_format`` per phase (others: tqdm's default)."""


class PhaseBars:
    """Callable as ``progress(phase, done, total)``; opens a new bar whenever the phase changes."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.phase: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.bar = tqdm(
                total=total, desc=LABELS.get(phase, phase), unit="step",
                bar_format=FORMATS.get(phase),
            )  # fmt: skip
        elif total != self.bar.total:  # a phase whose length is known as it goes (the sample)
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def note(self, phase: str, text: str) -> None:
        """Print one line about ``phase`` (e.g. why the fit stopped) under its bar."""
        if self.enabled:
            tqdm.write(f"{LABELS.get(phase, phase)}: {text}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def fit_line(history: dict) -> str | None:
    """One line on a finished fit from its saved history (steps, time, why it stopped), or None
    when the method records none (fixed patterns, baselines, an older generator)."""
    if "stopped" not in history:
        return None
    return f"fit: {history['steps']} steps in {history['seconds']:.0f} s; {history['stopped']}"
