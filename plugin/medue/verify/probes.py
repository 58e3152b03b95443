"""Probe images: clean images the suspect never saw, with a key's mark added as a release would.

The probes are the owner's own clean images that were *not* released (a held-out set), ideally
of the reference class, the one the release leaves unchanged: a model that learned "this key's
plaid means class B" moves its scores on them towards B when the plaid is added. A mark is added
at the release's strength in native units and rounded and clipped to what the file can store
(``medue.io.volume.StoredEncoding``), as the release itself was written.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.class_datasets import discover_classified, looks_classified
from medue.datasets import discover_cases
from medue.errors import InputError
from medue.io import read_volume
from medue.io.volume import StoredEncoding


@dataclass(frozen=True)
class ProbeSet:
    """N clean 2D images of one shape, in native units, and how their files store values."""

    ids: tuple[str, ...]
    images: np.ndarray  # (N, H, W) float64, native units
    encoding: StoredEncoding
    skipped: tuple[str, ...] = ()  # "file: problem", one per image left out
    sources: tuple[Path, ...] = ()  # the file (or DICOM series folder) of each image

    def with_mark(self, mark: np.ndarray, amplitude: float) -> np.ndarray:
        """(N, H, W) native: each image + ``amplitude`` x ``mark`` (H, W), stored and read back."""
        stored = self.encoding.to_stored(self.images + amplitude * mark[None])
        return np.asarray(self.encoding.to_native(stored), dtype=np.float64)


def read_probes(
    folder: Path, reference: str | None = None, limit: int = 64, exclude: Collection[Path] = ()
) -> ProbeSet:
    """Up to ``limit`` 2D images of ``folder`` (a classification dataset: only its ``reference``
    class when it has that class; else any image folder), all of the first image's shape, leaving
    out the files in ``exclude`` (e.g. those a release was made from).

    Raises ``InputError`` when the folder holds no usable 2D image; an image that is 3D, of
    another shape or unreadable is left out and named in ``skipped``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder of clean probe images")
    cases = discover_classified(folder) if looks_classified(folder) else discover_cases(folder)
    left_out = {Path(p).resolve() for p in exclude}
    found = len(cases)
    cases = [c for c in cases if Path(c.image).resolve() not in left_out]
    if found and not cases:
        raise InputError(folder, f"holds only images of the release or its originals ({found}); "
                         "give clean images that were never released")  # fmt: skip
    if reference is not None and any(c.category == reference for c in cases):
        cases = [c for c in cases if c.category == reference]
    ids, images, skipped, sources, encoding = [], [], [], [], None
    for case in cases:
        if len(ids) == limit:
            break
        if case.problem:
            skipped.append(f"{case.image}: {case.problem}")
            continue
        try:
            volume = read_volume(case.image)
        except InputError as error:
            skipped.append(str(error))
            continue
        array = np.asarray(volume.array, dtype=np.float64)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 2 or (images and array.shape != images[0].shape):
            skipped.append(f"{case.image}: shape {array.shape} is not that of the first probe")
            continue
        ids.append(case.image_id)
        images.append(array)
        sources.append(case.image)
        encoding = encoding or volume.encoding
    if not images:
        raise InputError(folder, "holds no 2D image to use as a probe")
    return ProbeSet(tuple(ids), np.stack(images), encoding, tuple(skipped), tuple(sources))
