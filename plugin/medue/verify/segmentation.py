"""Segmentation probes: the release's own pattern pasted onto clean images it never held.

A segmenter trained on a release whose pattern is locked to the label (the checkerboard on the
vessels) learns "this pattern is the structure": pasted onto background it calls that background
the structure. So each probe is a clean, never-released image, once as it is and once with the
*change the release wrote* into one released image (released minus original, native units, in
the shape of that image's labelled structures) pasted onto it, on the grid position the release
had (same rows and columns, so the pattern's phase is kept), left out where the probe has its own
structure (its label, dilated by 2 voxels) and rounded to what the probe's file can store. The
suspect's response to a probe is the share of the pasted region it calls foreground with the
pattern minus without it; its statistic is the mean over probes.

The pattern is the same for every key (it carries no key a decoy could vary), so the statistic
is calibrated against clean reference models instead (``medue.verify.references``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_dilation

from medue.datasets import discover_cases
from medue.errors import InputError
from medue.io import read_volume
from medue.io.volume import StoredEncoding
from medue.verify.probes import ProbeSet, read_probes
from medue.verify.suspect import scores

OWN_MARGIN = 2
"""Voxels around a probe's own labelled structure left unmarked (it is not background)."""


@dataclass(frozen=True)
class SegmentationProbes:
    """N clean probe images, the same with the release's pattern pasted, and where it was pasted."""

    ids: tuple[str, ...]
    clean: np.ndarray  # (N, H, W) float64, native units
    marked: np.ndarray  # (N, H, W) float64, native units, as the probe's file stores them
    regions: np.ndarray  # (N, H, W) bool: the voxels that carry the pasted pattern
    encoding: StoredEncoding
    sources: tuple[str, ...]  # each probe's clean file
    skipped: tuple[str, ...] = ()
    unlabelled: int = 0  # probes without a label: pasted without leaving their structures out

    def fingerprint(self) -> str:
        """SHA-256 of the probes' values and regions: the same probes give the same hex."""
        digest = hashlib.sha256()
        for array in (self.clean, self.marked, self.regions.astype(np.uint8)):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        """Write the probes (npz): calibration and every later test must use the same ones."""
        np.savez_compressed(
            path,
            ids=np.array(self.ids),
            clean=self.clean,
            marked=self.marked,
            regions=self.regions,
            sources=np.array(self.sources),
        )

    @classmethod
    def load(cls, path: Path, encoding: StoredEncoding) -> SegmentationProbes:
        with np.load(path) as data:
            return cls(
                tuple(str(i) for i in data["ids"]),
                data["clean"],
                data["marked"],
                data["regions"],
                encoding,
                tuple(str(s) for s in data["sources"]),
            )


def release_changes(manifest: dict, limit: int = 8) -> list[np.ndarray]:
    """Up to ``limit`` released-minus-original images (H, W), native units, from the manifest's
    cases (their ``output`` and ``source`` files). Raises ``InputError`` naming a missing file."""
    changes = []
    for case in manifest.get("cases", [])[:limit]:
        released, original = Path(case["output"]), Path(case["source"])
        for path in (released, original):
            if not path.exists():
                raise InputError(
                    path,
                    "is missing: verification pastes the change the release "
                    "wrote, so it needs the release and its originals in place",
                )
        new = np.asarray(read_volume(released).array, dtype=np.float64).squeeze()
        old = np.asarray(read_volume(original).array, dtype=np.float64).squeeze()
        if new.ndim != 2 or new.shape != old.shape:
            raise InputError(released, "is not a 2D image of its original's shape")
        changes.append(new - old)
    if not changes or not any(np.any(c) for c in changes):
        raise InputError(None, "the release changed no voxel: there is no pattern to look for")
    return changes


def read_segmentation_probes(
    folder: Path, changes: list[np.ndarray], limit: int, exclude: frozenset[Path] = frozenset()
) -> SegmentationProbes:
    """Up to ``limit`` probes from the clean images of ``folder`` (not those in ``exclude``),
    each with its label when the folder has one (``medue.datasets``), pasted as ``paste_probes``
    does. Raises ``InputError`` when no image can be used."""
    probes = read_probes(folder, None, limit, exclude)
    label_of = {Path(c.image).resolve(): c.label for c in discover_cases(Path(folder))}
    labels = []
    for source in probes.sources:
        path = label_of.get(Path(source).resolve())
        labels.append(None if path is None else np.asarray(read_volume(path).array).squeeze())
    return paste_probes(probes, labels, changes)


def paste_probes(
    probes: ProbeSet, labels: list[np.ndarray | None], changes: list[np.ndarray]
) -> SegmentationProbes:
    """The probes of ``probes`` with change ``j mod len(changes)`` pasted onto probe ``j``
    (centred when the shapes differ), off its own structure. Probes where nothing is left to
    paste are skipped."""
    ids, clean, marked, regions, sources, skipped = [], [], [], [], [], list(probes.skipped)
    for j, image in enumerate(probes.images):
        change = _fit(changes[j % len(changes)], image.shape)
        region = change != 0
        if labels[j] is not None:
            region &= ~binary_dilation(labels[j] > 0, iterations=OWN_MARGIN)
        written = probes.encoding.to_native(probes.encoding.to_stored(image + change * region))
        written = np.asarray(written, dtype=np.float64)
        region &= written != image  # clipped at the file's range: nothing pasted there
        if not region.any():
            skipped.append(f"{probes.sources[j]}: no room to paste the pattern")
            continue
        ids.append(probes.ids[j])
        clean.append(image)
        marked.append(written)
        regions.append(region)
        sources.append(str(probes.sources[j]))
    if not ids:
        raise InputError(None, "no probe image had room for the release's pattern")
    unlabelled = sum(labels[probes.ids.index(i)] is None for i in ids)
    return SegmentationProbes(
        tuple(ids),
        np.stack(clean),
        np.stack(marked),
        np.stack(regions),
        probes.encoding,
        tuple(sources),
        tuple(skipped),
        unlabelled,
    )


def responses(foreground_clean: np.ndarray, foreground_marked: np.ndarray, regions: np.ndarray):
    """(N,): per probe, the share of its region called foreground with the pattern minus
    without it. The three arrays are (N, H, W) bool."""
    area = regions.sum(axis=(1, 2))
    gained = (foreground_marked & regions).sum(axis=(1, 2)) - (foreground_clean & regions).sum(
        axis=(1, 2)
    )
    return gained / np.maximum(area, 1)


def model_responses(model: torch.nn.Module, probes: SegmentationProbes, source: str) -> np.ndarray:
    """(N,) responses of a segmenter (``medue.verify.suspect``: per-voxel class scores) on
    ``probes``; foreground is any class but 0 at the argmax. Raises ``InputError`` naming
    ``source`` when the model is not a segmenter of these images."""
    clean, marked = (_foreground(model, images, source) for images in (probes.clean, probes.marked))
    return responses(clean, marked, probes.regions)


def first_probe_maps(
    model: torch.nn.Module, probes: SegmentationProbes, source: str
) -> dict[str, np.ndarray]:
    """The model's foreground (H, W) bool on the first probe, ``clean`` and ``marked``."""
    pair = np.stack([probes.clean[0], probes.marked[0]])
    clean, marked = _foreground(model, pair, source)
    return {"clean": clean, "marked": marked}


def _foreground(model: torch.nn.Module, images: np.ndarray, source: str) -> np.ndarray:
    out = scores(model, images, source)
    if out.ndim != 4 or out.shape[2:] != images.shape[1:] or out.shape[1] < 2:
        raise InputError(
            source,
            f"returned {tuple(out.shape)} for images {images.shape[1:]}: "
            "a segmenter returns per-voxel class scores (N, C, H, W)",
        )
    return out.argmax(axis=1) > 0


def _fit(change: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``change`` cropped or zero-padded (centred, by even offsets: the pattern's phase) to
    ``shape``."""
    out = np.zeros(shape)
    spans = []
    for have, want in zip(change.shape, shape, strict=True):
        if have >= want:
            offset = ((have - want) // 2) & ~1
            spans.append((slice(offset, offset + want), slice(0, want)))
        else:
            offset = ((want - have) // 2) & ~1
            spans.append((slice(0, have), slice(offset, offset + have)))
    (src_y, dst_y), (src_x, dst_x) = spans
    out[dst_y, dst_x] = change[src_y, src_x]
    return out
