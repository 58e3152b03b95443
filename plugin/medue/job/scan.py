"""One pass over a dataset that keeps what the whole dataset decides, never its images.

A protect job fits on a bounded sample (``medue.job.sample``) and applies one case at a time, yet
a few things belong to the whole dataset. They are computed here by reading every case once
(``medue.job.reading.read_case``) and keeping only a small summary; each case's arrays are
dropped before the next one is read:

- the label values the surrogate segments, in class order: every foreground value of every label
  map that loads (the user's ``--labels`` when given; ``(1,)`` without any label);
- the fitting mode: 2D for 2D images and thick-slice volumes, 3D only when every volume is
  near-isotropic (``ANISOTROPY_FOR_2D``);
- classification: the classes, in index order (``medue.class_datasets.class_names``);
- which cases load at all, and each one's voxel count (what the sample's size is bounded by).

These are the values the job computed when it held every loaded case in memory: the same reads,
the same cases, the same rules, so a dataset small enough to fit whole gives the same release as
before. The price is one more read of each case (decompression included) before the fit.

Under torchrun (``medue.distributed``) each rank reads only its share of the cases
(``cases[rank::world]``) and the ranks then exchange their small summaries, so every rank ends
with the same summary as a single process, in the same case order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medue import distributed
from medue.batch import Failure
from medue.class_datasets import class_names as ordered_classes
from medue.datasets import Case
from medue.errors import InputError
from medue.job.reading import read_case
from medue.job.settings import ProtectSettings
from medue.methods.base import CancelToken, ProgressCallback, check_cancel, no_progress

ANISOTROPY_FOR_2D = 2.5


@dataclass
class DatasetSummary:
    """What a scan keeps: the cases that loaded (in the order given) and what they decide."""

    cases: list[Case]
    voxels: list[int]  # each case's voxel count, in the order of ``cases``
    failures: list[Failure]
    class_values: tuple[int, ...]
    mode: str
    class_names: tuple[str, ...] = field(default=())  # classification: the classes, in order


def scan_dataset(
    cases: list[Case],
    settings: ProtectSettings,
    class_values: tuple[int, ...] | None = None,
    class_names: tuple[str, ...] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    progress_total: int | None = None,
) -> DatasetSummary:
    """Read each case once (this rank's share under torchrun); ``class_values`` /
    ``class_names``, when given (a saved method's), are kept instead of the dataset's. Reports
    ``("prepare", done, progress_total)`` per case read (``progress_total`` defaults to the
    number of cases); a case that fails to load is recorded as a failure with its file, never
    raised, except a cancel (``Cancelled``) between cases."""
    total = progress_total or len(cases)
    count_values = not class_values and not settings.roi.label_values
    ranks = distributed.ranks()
    mine = []
    for done, case in enumerate(ranks.shard(cases), start=1):
        if cancel is not None:
            check_cancel(cancel)
        mine.append(_scan_case(case, settings, count_values))
        progress("prepare", done, total)
    shards = distributed.gather(mine)
    scans = [shards[index % ranks.world][index // ranks.world] for index in range(len(cases))]
    loaded = [case for case, scan in zip(cases, scans, strict=True) if isinstance(scan, _Scan)]
    read = [scan for scan in scans if isinstance(scan, _Scan)]
    values = set().union(*(scan.values for scan in read))
    if class_values:
        kept_values = tuple(class_values)
    elif settings.roi.label_values:
        kept_values = tuple(settings.roi.label_values)
    else:
        kept_values = tuple(sorted(values)) or (1,)
    names = class_names or ordered_classes(loaded)
    return DatasetSummary(
        cases=loaded,
        voxels=[scan.voxels for scan in read],
        failures=[scan for scan in scans if isinstance(scan, Failure)],
        class_values=kept_values,
        mode=choose_mode(settings.mode, [scan.spacing for scan in read]),
        class_names=tuple(names) if settings.classification else (),
    )


@dataclass(frozen=True)
class _Scan:
    """What the scan keeps of one case that loaded."""

    voxels: int
    spacing: tuple[float, ...]
    values: frozenset[int]  # its label's foreground values (empty unless counted)


def _scan_case(case: Case, settings: ProtectSettings, count_values: bool) -> _Scan | Failure:
    """Read ``case`` and keep its summary (its arrays go on return), or its failure."""
    try:
        item = read_case(case, settings)
    except Exception as error:  # recorded for this case; re-raises a cancel
        return Failure.from_error(error, case.image)
    values = frozenset()
    if count_values and item.label is not None:
        values = frozenset(int(v) for v in np.unique(item.label) if v)
    return _Scan(int(item.image.array.size), tuple(item.image.geometry.spacing), values)


def choose_mode(requested: str, spacings: list[tuple[float, ...]]) -> str:
    """2D for 2D images and thick-slice volumes; 3D only when every volume is near-isotropic
    (``spacings`` in (x, y[, z]) mm, one per image). Raises ``InputError`` for an unknown mode."""
    if requested in ("2d", "3d"):
        return requested
    if requested != "auto":
        raise InputError(None, f"unknown mode {requested!r} (choose auto, 2d or 3d)")
    for spacing in spacings:
        if len(spacing) == 2 or spacing[2] > ANISOTROPY_FOR_2D * min(spacing[:2]):
            return "2d"
    return "3d" if spacings else "2d"
