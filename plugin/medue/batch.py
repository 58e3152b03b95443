"""Run one piece of work over every case of a dataset, without letting one bad file stop the rest.

Problems with a case's data (:class:`~medue.errors.InputError`) are collected as failures and the
loop goes on; at the end the caller reports what failed. Ctrl-C is never swallowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from tqdm import tqdm

from medue.datasets import Case
from medue.errors import InputError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """What went wrong with one case, in one line a person can act on."""

    source: str
    problem: str

    def __str__(self) -> str:
        return f"{self.source}: {self.problem}"

    @classmethod
    def from_error(cls, error: InputError, fallback: object) -> Failure:
        """The failure an InputError describes; ``fallback`` names the input if it does not."""
        return cls(error.source or str(fallback), error.problem)


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
        except InputError as error:
            failures.append(Failure.from_error(error, case.image))
        except (MemoryError, RuntimeError, ValueError, OSError) as error:
            log.debug("unexpected failure on %s", case.image, exc_info=True)
            failures.append(Failure(str(case.image), f"{type(error).__name__}: {error}"))
    return results, failures
