"""Run one piece of work over every case of a dataset, without letting one bad file stop the rest.

Problems with a case's data (:class:`~medue.errors.InputError`) are collected as failures and the
loop goes on; so is any unexpected error (a bug, a file no check foresaw), recorded with the file
it happened on and its traceback logged. At the end the caller reports what failed. Ctrl-C and a
cancelled job are never swallowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from tqdm import tqdm

from medue.datasets import Case
from medue.errors import InputError, NotAnImage
from medue.methods.base import Cancelled

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """What went wrong with one case, in one line a person can act on."""

    source: str
    problem: str
    skipped: bool = False  # nothing to protect here (NotAnImage): named, not a failure

    def __str__(self) -> str:
        return f"{self.source}: {self.problem}"

    @classmethod
    def from_error(cls, error: Exception, fallback: object, doing: str = "reading") -> Failure:
        """The failure ``error`` describes; ``fallback`` names the input if the error does not.

        An :class:`InputError` is the user's one-line message; anything else is unexpected: it is
        logged with its traceback and named as such. Re-raises :class:`Cancelled`.
        """
        if isinstance(error, Cancelled):
            raise error
        if isinstance(error, InputError):
            skipped = isinstance(error, NotAnImage)
            return cls(error.source or str(fallback), error.problem, skipped)
        log.warning("unexpected error while %s %s", doing, fallback, exc_info=error)
        text = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        return cls(str(fallback), f"unexpected error while {doing} it ({text})")


def run_over_cases(
    cases: Iterable[Case],
    work: Callable[[Case], T],
    description: str = "cases",
    show_progress: bool = True,
) -> tuple[list[T], list[Failure]]:
    """Apply ``work`` to each case; return the results and the failures (in case order)."""
    cases = list(cases)
    results: list[T] = []
    failures: list[Failure] = []
    for case in tqdm(cases, desc=description, unit="case", disable=not show_progress):
        try:
            results.append(work(case))
        except Exception as error:  # one bad case never stops the rest
            failures.append(Failure.from_error(error, case.image))
    return results, failures
