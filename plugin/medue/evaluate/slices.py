"""2D training material for a victim, read from the files of a dataset folder.

Protection is only worth what survives writing: rounding to the stored dtype, the file format, the
attacker's own normalisation. So the victim never sees MedUE's in-memory arrays; it sees what an
attacker who downloaded the folder would build: every case read back from disk, normalised the
way a generic pipeline would, cut into axial slices.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.datasets import discover_cases, load_case
from medue.errors import InputError
from medue.intensity import percentile_window
from medue.io import Volume

MULTIPLE = 16  # three or four 2x down-samplings in the victims need sizes divisible by 16


@dataclass
class SliceSet:
    """Slices in [0, 1] with their label maps, all padded to one size (multiples of 16)."""

    images: np.ndarray  # (N, H, W) float32
    labels: np.ndarray  # (N, H, W) int64
    ids: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def load_slices(
    folder: str | Path, min_foreground: int = 1, ids: Collection[str] | None = None
) -> SliceSet:
    """Every labelled slice of a dataset folder, normalised per case and padded to one size.

    A 2D image is one slice; a 3D volume gives its axial slices (axis 0). A slice is kept when its
    label has at least ``min_foreground`` non-zero voxels (the criterion is applied to 2D images
    too; with the default of 1 it never drops one, as empty labels are refused on loading).
    Ids are the image id, plus ``/z<index>`` for slices of a volume. ``ids`` keeps only those
    image ids (a train/test split).
    """
    images, labels, names_kept = [], [], []
    for case in discover_cases(folder):
        if ids is not None and case.image_id not in ids:
            continue
        loaded = load_case(case, require_label=True)
        volume = normalise(loaded.image)
        label = loaded.label
        if volume.ndim == 2:
            volume, label, names = volume[None], label[None], [case.image_id]
        else:
            names = [f"{case.image_id}/z{z}" for z in range(volume.shape[0])]
        for image, target, name in zip(volume, label, names, strict=True):
            if np.count_nonzero(target) >= min_foreground:
                images.append(image)
                labels.append(target.astype(np.int64))
                names_kept.append(name)
    if not names_kept:
        raise InputError(Path(folder), f"no slice with >= {min_foreground} labelled voxels")
    height, width = (_round_up(max(a.shape[i] for a in images)) for i in (0, 1))
    return SliceSet(
        images=np.stack([pad_centred(a, height, width) for a in images]).astype(np.float32),
        labels=np.stack([pad_centred(a, height, width) for a in labels]),
        ids=names_kept,
    )


def normalise(volume: Volume) -> np.ndarray:
    """[0, 1] float32: uint8 files / 255; others by the case's 0.5/99.5 percentiles, clipped.

    The percentiles are those of the non-minimum voxels (``medue.intensity.percentile_window``), so
    a large zero background does not pull the lower bound down.
    """
    if volume.encoding.stored_dtype == np.uint8:
        return np.asarray(volume.array, dtype=np.float32) / 255.0
    return percentile_window(volume.array).normalise(volume.array)


def pad_centred(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad a 2D array with zeros to (height, width), the original in the middle."""
    dy, dx = height - array.shape[0], width - array.shape[1]
    return np.pad(array, ((dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2)))


def _round_up(size: int) -> int:
    return -(-size // MULTIPLE) * MULTIPLE
