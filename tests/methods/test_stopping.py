"""UMed's plateau rule (``medue.methods.stopping``) and what a fit records of it."""

from __future__ import annotations

import numpy as np
import pytest

from medue.budget import BudgetRequest
from medue.datasets import discover_cases, load_case
from medue.methods.stopping import PlateauRule
from medue.methods.umed import UMedConfig, fit_umed, load_umed
from medue.prepare import RoiSpec, prepare_case


def windows(*means: float, window: int = 50, noise: float = 0.05, seed: int = 0) -> list[float]:
    """Per-step losses: ``window`` steps around each mean, with seeded noise (SD ``noise``)."""
    rng = np.random.default_rng(seed)
    return [m + noise * rng.standard_normal() for m in means for _ in range(window)]


def test_a_flat_loss_stops_after_patience_windows_past_the_minimum():
    rule = PlateauRule()  # window 50, 5 %, patience 2, at least 100 steps
    flat = windows(0.3, 0.3, 0.3, 0.3)
    assert rule.reason(flat[:100]) is None  # one window without improvement: patience 2
    assert rule.reason(flat[:149]) is None  # checked at window ends only
    reason = rule.reason(flat[:150])
    assert reason is not None and reason.startswith("plateau: ")
    assert "steps 1-50" in reason  # the best window is named


def test_a_falling_loss_never_stops_and_a_noise_blip_is_not_a_plateau():
    """The shape measured on the CT slabs (docs/BENCHMARKS.md §5c): one window worse than the
    one before, then falling again."""
    rule = PlateauRule()
    losses = windows(0.72, 0.42, 0.35, 0.37, 0.22, 0.23, 0.19, 0.17)
    assert all(rule.reason(losses[:steps]) is None for steps in range(1, len(losses) + 1))


def test_improvements_smaller_than_the_tolerance_stop_and_window_zero_never_does():
    slow = windows(*(0.5 * 0.98**k for k in range(6)), noise=0.0)  # 2 % better per window
    assert PlateauRule(tolerance=0.05).reason(slow[:150]) is not None
    assert PlateauRule(tolerance=0.01).reason(slow[:300]) is None
    assert not any(PlateauRule(window=0).reason(slow[:n]) for n in range(1, 301))
    assert PlateauRule(min_steps=250).reason(slow[:200]) is None


@pytest.fixture(scope="module")
def breast(sample_dataset):
    case = next(c for c in discover_cases(sample_dataset) if c.image_id == "breast1")
    return prepare_case(load_case(case), RoiSpec(), BudgetRequest(preset="strong"))


class Recorder:
    """A progress callback with a ``note`` method, as the CLI's bars have."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.notes: list[tuple[str, str]] = []

    def __call__(self, phase: str, done: int, total: int) -> None:
        self.calls.append((phase, done, total))

    def note(self, phase: str, text: str) -> None:
        self.notes.append((phase, text))


def test_fit_stops_at_a_plateau_and_records_steps_and_reason(breast, tmp_path):
    # a tolerance of 100 % can never be met: the rule fires at its first chance, step 4
    config = UMedConfig(patch=(1, 64, 64), iterations=10, batch_size=2, stop_window=2,
                        stop_tolerance=1.0, stop_patience=1, stop_min_steps=4)  # fmt: skip
    progress = Recorder()
    perturber = fit_umed([breast], config, progress)
    assert perturber.history["steps"] == 4
    assert perturber.history["stopped"].startswith("plateau: ")
    assert progress.calls[-1] == ("fit", 4, 4)  # the bar ends where the fit did
    assert [total for _, _, total in progress.calls[:-1]] == [10, 10, 10]
    assert progress.notes == [("fit", progress.notes[0][1])]
    assert progress.notes[0][1].startswith("4 of at most 10 steps in ")
    saved = load_umed(perturber.save(tmp_path / "g.pt"))  # the generator file says it too
    assert saved.history["steps"] == 4 and saved.history["stopped"] == perturber.history["stopped"]
    assert saved.config.stop_window == 2


def test_fit_without_the_rule_runs_every_step(breast):
    config = UMedConfig(patch=(1, 64, 64), iterations=5, batch_size=2, stop_window=0)
    perturber = fit_umed([breast], config)
    assert perturber.history["steps"] == 5
    assert perturber.history["stopped"].startswith("maximum: ran all 5 steps")
