"""What an unauthorised trainer can do against protected data, by name, at clinical defaults.

A protection is only as good as the cheapest countermeasure that undoes it, so the victim can be
trained behind any of these: data-side ones transform the training slices once (``preprocess``),
training-side ones change every batch (``batch_hook``). ``none`` is the undefended reference.
"""

from __future__ import annotations

from medue.evaluate.countermeasures.base import BatchHook, Countermeasure, LossFn
from medue.evaluate.countermeasures.codecs import MR_RATIO, Jpeg, Jpeg2000
from medue.evaluate.countermeasures.data import (
    DownUp,
    Gaussian,
    Median,
    Rewindow,
    SliceCountermeasure,
)
from medue.evaluate.countermeasures.training import Augment, Pgd

COUNTERMEASURES: dict[str, Countermeasure] = {
    c.name: c
    for c in (
        Countermeasure(),
        Gaussian(),
        Median(),
        DownUp(),
        Jpeg(),
        Jpeg(name="jpeg_mr", ratio=MR_RATIO),
        Jpeg2000(),
        Jpeg2000(name="jpeg2000_mr", ratio=MR_RATIO),
        Rewindow(),
        Augment(),
        Pgd(),
    )
}


def get_countermeasure(name: str) -> Countermeasure:
    """The registered countermeasure called ``name``; ValueError naming the known ones."""
    if name not in COUNTERMEASURES:
        raise ValueError(f"unknown countermeasure {name!r} (known: {', '.join(COUNTERMEASURES)})")
    return COUNTERMEASURES[name]


__all__ = [
    "COUNTERMEASURES",
    "Augment",
    "BatchHook",
    "Countermeasure",
    "DownUp",
    "Gaussian",
    "Jpeg",
    "Jpeg2000",
    "LossFn",
    "Median",
    "Pgd",
    "Rewindow",
    "SliceCountermeasure",
    "get_countermeasure",
]
