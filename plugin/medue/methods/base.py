"""What every protection method offers the job layer: fit on prepared cases, then perturb one case.

A method's ``fit(cases, config, progress, cancel)`` returns a :class:`Perturber`; the perturber is
what gets saved, loaded (in about a second, for previews) and applied to any number of images.
The perturbation it returns is in normalised window units, zero outside the method's region
(``case.allowed`` for ROI methods, the whole image for ``*-image`` baselines) and
within ``case.budget.epsilon``; the job layer maps it to native units and rounds it to the stored
dtype.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from medue.io.atomic import atomic_path
from medue.prepare import PreparedCase

T = TypeVar("T")

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phases: "fit", "apply". ``total`` may change as a
phase goes (a fit that stops early reports ``done == total`` at its last step). A callback may
also have a ``note(phase, text)`` method, for a line of text such as why a fit stopped
(``report_note``)."""


class CancelToken(Protocol):
    """Anything with ``is_set()`` (``threading.Event`` fits): checked between steps."""

    def is_set(self) -> bool: ...


class Cancelled(Exception):
    """Raised when a cancel token is set; the work stops between two steps, nothing half-written."""


class NeverCancelled:
    def is_set(self) -> bool:
        return False


def no_progress(phase: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


def report_note(progress: ProgressCallback, phase: str, text: str) -> None:
    """Tell ``progress`` one line about ``phase`` (e.g. why a fit stopped), if it has a ``note``
    method (the CLI's bars print it); a plain function is not told."""
    note = getattr(progress, "note", None)
    if callable(note):
        note(phase, text)


def config_from_saved(config_class: type[T], saved: dict) -> T:
    """A method's config dataclass from its saved dict (lists back to tuples, as in the class)."""
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


def save_description(perturber: Perturber, path: str | Path) -> Path:
    """Write ``perturber.describe()`` as JSON to ``path`` (atomically): the whole perturber of a
    method that fits nothing (the patterns, the baselines), loaded back by its module."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(perturber.describe()))
    return path


def check_cancel(cancel: CancelToken) -> None:
    if cancel.is_set():
        raise Cancelled("cancelled by the user")


class Perturber(Protocol):
    """A fitted method: deterministic, applies to any prepared case."""

    method: str
    class_values: tuple[int, ...]
    """Label values the method was fitted for, in class order ((): any)."""

    def perturb(self, case: PreparedCase) -> np.ndarray: ...

    def describe(self) -> dict: ...

    def save(self, path: str | Path) -> Path: ...
