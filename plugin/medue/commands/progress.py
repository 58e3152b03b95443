"""Progress bars for the CLI: one tqdm bar per phase, fed by the engine's progress callback."""

from __future__ import annotations

from tqdm import tqdm

LABELS = {
    "prepare": "reading",
    "fit": "training",
    "apply": "protecting",
    "victims": "victim runs",
}


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
            self.bar = tqdm(total=total, desc=LABELS.get(phase, phase), unit="step")
        elif total != self.bar.total:  # a phase whose length is known as it goes (the sample)
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
