"""Which cases a method is fitted on: a bounded sample of the dataset, drawn from the seed.

The cases are taken in the order of a permutation drawn from ``numpy.random.default_rng(seed)``
(classification: first one image of every class, each the first of its class in that order, so
that every class the release protects is in the fit), until the sample holds ``limit`` cases or,
without a limit, until the next case would take it past ``budget`` voxels (at least one case).
A case that fails to prepare is recorded by the caller and the next one in the order is drawn
instead. The sample is returned in the dataset's order, so a sample that holds every case is the
dataset itself, fitted exactly as a job that fits on everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def draw_sample(
    voxels: Sequence[int],
    seed: int,
    prepare: Callable[[int], T | None],
    limit: int | None = None,
    budget: int | None = None,
    classes: Sequence[str] | None = None,
) -> list[tuple[int, T]]:
    """``[(index, prepare(index))]`` for the drawn cases, by increasing index.

    ``voxels[i]`` is case i's voxel count; ``prepare(i)`` prepares case i or returns None when it
    cannot (the case is then skipped, never drawn again); ``limit`` caps the number of cases,
    ``budget`` (used only without a limit) their voxels; ``classes[i]`` is case i's class
    (classification: one case of each class comes first, even past the limit).
    """
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(voxels))]
    chosen: dict[int, T] = {}
    tried: set[int] = set()

    def take(index: int) -> bool:
        tried.add(index)
        prepared = prepare(index)
        if prepared is not None:
            chosen[index] = prepared
        return prepared is not None

    for name in sorted(set(classes or ())):
        next((i for i in order if classes[i] == name and take(i)), None)
    total = sum(voxels[i] for i in chosen)
    for index in order:
        if index in tried:
            continue
        if limit is not None and len(chosen) >= limit:
            break
        if limit is None and budget is not None and chosen and total + voxels[index] > budget:
            break
        if take(index):
            total += voxels[index]
    return sorted(chosen.items())


def planned_size(
    voxels: Sequence[int],
    seed: int,
    limit: int | None = None,
    budget: int | None = None,
    classes: Sequence[str] | None = None,
) -> int:
    """How many cases ``draw_sample`` draws when every case prepares (for progress totals)."""
    return len(draw_sample(voxels, seed, lambda index: index, limit, budget, classes))
