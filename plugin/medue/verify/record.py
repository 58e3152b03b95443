"""What ``medue verify`` reads from the owner's private folder: the key and the release's pattern.

The key must open the commitment recorded in the private manifest (``medue.keys.commitment``), so
a third party who is shown the key later can check it is the one committed to in the published
``release.json`` before the suspect model existed. Two kinds of release can be verified:

- a classification release whose pattern depends on the key, ``pattern-presence-keyed``
  (``medue.methods.presence``): ``read_record`` -> ``VerifyRecord``, tested key against decoys;
- any segmentation release: ``read_segmentation_record`` -> ``SegmentationRecord``. Its pattern
  (the checkerboard on the structures) is the same for every key, so it is tested against clean
  reference models (``medue.verify.references``) instead.

Other classification methods are refused with one line: a suspect's answer to a pattern that is
the same for every key (stripes) cannot be tied to this key, and the decoys would answer as
strongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.keys import KEY_FILE, matches, read_key_file
from medue.methods.names import CLASSIFICATION_METHODS
from medue.methods.presence import PresencePerturber
from medue.methods.registry import load_perturber
from medue.restore.release import read_manifest

PERTURBER = "generator.json"
VERIFIABLE = ("pattern-presence-keyed",)
"""The methods whose pattern victims learn for the key (docs/BENCHMARKS.md, proof of use)."""


@dataclass(frozen=True)
class VerifyRecord:
    """The key, the keyed pattern and its strength as the release applied it."""

    private: Path
    key: bytes
    perturber: PresencePerturber
    amplitude: float  # native units: the median epsilon of the released images
    commitment: str  # hex SHA-256 commitment of the key, as published in release.json
    released: frozenset[Path] = frozenset()  # the files the release was made from (resolved)

    @property
    def marked_classes(self) -> tuple[str, ...]:
        return self.perturber.marked

    def mark(self, name: str, shape: tuple[int, int], key: bytes | None = None) -> np.ndarray:
        """Class ``name``'s unit mark (H, W) in [-1, 1] for ``key`` (default: the owner's)."""
        return self.perturber.mark(name, shape, key or self.key)


@dataclass(frozen=True)
class SegmentationRecord:
    """A segmentation release's private record: its manifest (cases, files) and checked key."""

    private: Path
    key: bytes
    commitment: str
    manifest: dict
    released: frozenset[Path] = frozenset()

    @property
    def method(self) -> str:
        return str(self.manifest.get("settings", {}).get("method"))


def is_segmentation(private: Path) -> bool:
    """Whether ``private`` records a segmentation release (any method but the classifiers')."""
    return _method(read_manifest(_checked_folder(private))) not in CLASSIFICATION_METHODS


def read_segmentation_record(private: Path, key_file: Path | None = None) -> SegmentationRecord:
    """The record of a segmentation release. Raises ``InputError`` as ``read_record`` does, and
    for a classification release."""
    private = _checked_folder(private)
    manifest = read_manifest(private)
    if _method(manifest) in CLASSIFICATION_METHODS:
        raise InputError(private, "records a classification release, not a segmentation one")
    key, commitment = _opened_key(private, manifest, key_file)
    return SegmentationRecord(private, key, commitment, manifest, _released(manifest))


def open_record(private: Path, key_file: Path | None = None) -> VerifyRecord | SegmentationRecord:
    """The record of either kind (``read_segmentation_record`` or ``read_record``)."""
    if is_segmentation(private):
        return read_segmentation_record(private, key_file)
    return read_record(private, key_file)


def read_record(private: Path, key_file: Path | None = None) -> VerifyRecord:
    """The verification record of ``private`` (a protect run's ``OUT.private`` folder).

    Raises ``InputError`` naming the file when the folder is not a private record, the key does
    not open its commitment, or its method cannot be verified."""
    private = _checked_folder(private)
    manifest = read_manifest(private)
    method = _method(manifest)
    if method not in VERIFIABLE:
        raise InputError(
            private, f"was made with {method!r}, whose pattern is the same for every key: a "
            "suspect's answer to it cannot be tied to this key. Proof of use needs a release "
            "made with --method pattern-presence-keyed",
        )  # fmt: skip
    key, commitment = _opened_key(private, manifest, key_file)
    perturber = load_perturber(private / PERTURBER)
    if not isinstance(perturber, PresencePerturber):
        raise InputError(private / PERTURBER, "is not the keyed class presence pattern")
    amplitude = _amplitude(manifest)
    return VerifyRecord(private, key, perturber, amplitude, commitment, _released(manifest))


def _checked_folder(private: Path) -> Path:
    private = Path(private)
    if not private.is_dir():
        raise InputError(private, "is not a folder (give the run's private folder, OUT.private)")
    if (private / "release.json").is_file():
        hint = f"{private.name}.private, or the folder given to protect --private"
        raise InputError(private, f"is the published release; give its private folder ({hint})")
    return private


def _method(manifest: dict) -> str | None:
    return manifest.get("settings", {}).get("method")


def _opened_key(private: Path, manifest: dict, key_file: Path | None) -> tuple[bytes, str]:
    path = key_file or private / KEY_FILE
    key = read_key_file(path)
    commitment = manifest.get("released", {}).get("key_commitment", "")
    if not matches(key, commitment):
        raise InputError(path, "is not the key of this private record (its commitment differs)")
    return key, commitment


def _released(manifest: dict) -> frozenset[Path]:
    """The files a release was made from and the released copies (neither is a clean probe)."""
    cases = manifest.get("cases", [])
    paths = [c["source"] for c in cases] + [c["output"] for c in cases if c.get("output")]
    return frozenset(Path(p).resolve() for p in paths)


def _amplitude(manifest: dict) -> float:
    values = [
        float(c["epsilon_native"]) for c in manifest.get("cases", []) if c.get("epsilon_native")
    ]
    return float(np.median(values)) if values else 1.0
