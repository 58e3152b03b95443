"""3D training material for a victim: whole volumes read from the files of a dataset folder.

The 3D counterpart of ``medue.evaluate.slices``, for the same reason (the victim sees what an
attacker who downloaded the folder would build, never MedUE's in-memory arrays) and with the same
per-case normalisation, reused from there so the 2D and 3D victims see identical voxel values.

Each volume stays on its own grid: no resampling to a common spacing and no padding to a common
shape. Real collections mix sizes (256x256x25 MR, 512x512x48 CT, 120x45x21 breast) and anisotropic
5-6.5 mm slices; a patch-based 3D victim handles any size, and resampling would be a choice of the
attacker's pipeline that changes the perturbation before the victim sees it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.datasets import discover_cases, load_case
from medue.errors import InputError
from medue.evaluate.slices import normalise


@dataclass
class VolumeSet:
    """Volumes (z, y, x) in [0, 1] with their label maps, each on its own grid."""

    images: list[np.ndarray]  # float32, one shape per case
    labels: list[np.ndarray]  # int64, same shape as the matching image
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def load_volumes(folder: str | Path, ids: Collection[str] | None = None) -> VolumeSet:
    """Every labelled volume of a dataset folder, normalised per case (``slices.normalise``).

    ``ids`` keeps only those image ids (a by-patient train/test split); an id that is not in the
    folder is an error, as a mistyped id would otherwise silently shrink a split. 2D images are
    refused: a 3D victim has nothing to learn across one slice.
    """
    cases = discover_cases(folder)
    if ids is not None:
        missing = sorted(set(ids) - {case.image_id for case in cases})
        if missing:
            raise InputError(Path(folder), f"no case with image id {', '.join(missing)}")
        cases = [case for case in cases if case.image_id in ids]
    images, labels = [], []
    for case in cases:
        loaded = load_case(case, require_label=True)
        if loaded.image.array.ndim != 3:
            raise InputError(case.image, "is 2D; the 3D victim needs volumes (z, y, x)")
        images.append(normalise(loaded.image).astype(np.float32, copy=False))
        labels.append(loaded.label.astype(np.int64))
    if not images:
        raise InputError(Path(folder), "no labelled volume")
    return VolumeSet(images=images, labels=labels, ids=[case.image_id for case in cases])
