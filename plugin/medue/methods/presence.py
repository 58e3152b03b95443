"""Class presence: fixed stripes on every image of every class but one (classification datasets).

A class-wise, image-independent pattern is the strongest shortcut an unlearnable release can
offer a classifier (Huang et al., "Unlearnable Examples", ICLR 2021: class-wise noise; Yu et al.,
"Availability Attacks Create Shortcuts", KDD 2022: a linearly separable pattern is learned before
the content). Here the class is the pattern's *presence and orientation*: every image of the
reference class is left unchanged, and every image of the k-th other class (in class order) gets
``+-epsilon`` stripes of period 2 over the whole image, across rows (k = 1), columns (k = 2) or
both (k = 3: the one-pixel checkerboard). A victim trained on the release learns "stripes mean
not the reference class"; a clean test image carries no stripes, so it is read as the reference
class. A flip of the image keeps both codes (a pattern whose class is its sign would not survive
one). More than ``MAX_CLASSES`` classes are refused: there are three orientations only.

``pattern-presence-keyed`` marks the k-th other class with a keyed plaid instead
(``medue.methods.plaid``: two frequencies drawn from the key, one pair per class, peak
``epsilon``, so half the stripes' RMS at the same epsilon): a pattern victims learn for *this* key,
which ``medue verify`` tests a suspect model for. Stripes cannot be verified (they are the same
for every key, and beside them a victim ignores any keyed addition).

Nothing is fitted: the perturber is the class order, the reference class and the key, saved as
JSON in the owner's private folder. The key does **not** change the stripes (there is no key
space: anyone who knows the method can subtract them); it only places the upper step of a
mixed-step budget (``medue.budget``: the PSNR floor between two whole steps), drawn from
HMAC-SHA256(key, ``presence/amplitude``) (``medue.keys``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.keys import seed_sequence
from medue.methods.base import save_description
from medue.methods.patterns import checkerboard
from medue.methods.plaid import plaid
from medue.prepare import PreparedCase

PRESENCE_METHODS = ("pattern-presence", "pattern-presence-keyed")
"""The class-presence methods a user can name (``medue protect --method pattern-presence``)."""
STRIPES = (1, 2, 0)
"""``patterns.checkerboard`` orientations of the marked classes, in order: rows, columns,
diagonal (period 2: one-pixel stripes)."""
MAX_CLASSES = 1 + len(STRIPES)
"""The reference class and one stripe orientation per other class."""


@dataclass
class PresencePerturber:
    """Stripes on every class of ``class_names`` but ``reference`` (class order decides the
    orientation); ``key`` is the secret key as hex (``medue.keys``)."""

    method: str
    class_names: tuple[str, ...]
    reference: str
    key: str | int = 0
    class_values: tuple[int, ...] = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def marked(self) -> tuple[str, ...]:
        """The classes that carry stripes, in class order."""
        return tuple(name for name in self.class_names if name != self.reference)

    def orientation(self, name: str) -> int | None:
        """The checkerboard orientation of class ``name`` (None: the reference, unchanged)."""
        return None if name == self.reference else STRIPES[self.marked.index(name)]

    def perturb(self, case: PreparedCase) -> np.ndarray:
        """(z, y, x) float32 in normalised units: zero for the reference class, else
        ``+-epsilon`` stripes (the same plane on every slice) on ``case.allowed``.

        ``case.extra["category"]`` is the image's index in ``class_names``
        (``medue.prepare.prepare_classified``)."""
        name = self.class_names[case.extra["category"]]
        orientation = self.orientation(name)
        if orientation is None:
            return np.zeros(case.image.shape, dtype=np.float32)
        if self.keyed:  # the budget's epsilon is the largest change: the plaid's peak
            plane = case.budget.epsilon * self.mark(name, case.image.shape[1:])
        else:
            plane = checkerboard(case.image.shape[1:], 2, orientation) * self._amplitude(case)
        return (np.broadcast_to(plane, case.image.shape) * case.allowed).astype(np.float32)

    @property
    def keyed(self) -> bool:
        """Whether the classes are marked by keyed plaids (``pattern-presence-keyed``)."""
        return self.method == "pattern-presence-keyed"

    def mark(self, name: str, shape: tuple[int, int], key: bytes | None = None) -> np.ndarray:
        """Class ``name``'s unit plaid over a (H, W) grid, float64 in [-1, 1], for ``key`` (a
        decoy's, in ``medue verify``) or by default this perturber's own key."""
        if key is None:
            key = (
                bytes.fromhex(self.key)
                if isinstance(self.key, str)
                else self.key.to_bytes(32, "big")
            )
        return plaid(key, f"presence/plaid/{self.marked.index(name)}", shape)

    def _amplitude(self, case: PreparedCase) -> float | np.ndarray:
        """Epsilon, or with mixed steps (``Budget.mixed_amplitudes``) the upper step on a fixed
        keyed share of the (y, x) grid and the lower one elsewhere, normalised units."""
        mixed = case.budget.mixed_amplitudes()
        if mixed is None:
            return case.budget.epsilon
        low, high, share = mixed
        shape = case.image.shape[1:]
        if shape not in self._cache:
            if isinstance(self.key, str):
                seed = seed_sequence(bytes.fromhex(self.key), "presence/amplitude")
            else:
                seed = [self.key, 2]
            self._cache[shape] = np.random.default_rng(seed).random(shape)
        return np.where(self._cache[shape] < share, high, low)

    def describe(self) -> dict:
        return {
            "method": self.method,
            "class_names": list(self.class_names),
            "reference_class": self.reference,
            ("plaids" if self.keyed else "stripes"): {
                name: "keyed plaid" if self.keyed else ("rows", "columns", "diagonal")[i]
                for i, name in enumerate(self.marked)
            },  # fmt: skip
            "key": self.key,
            "class_values": list(self.class_values),
        }

    def save(self, path: str | Path) -> Path:
        return save_description(self, path)


def presence_perturber(
    class_names: tuple[str, ...],
    reference: str | None = None,
    key: str | int = 0,
    method: str = "pattern-presence",
) -> PresencePerturber:
    """The ``method`` (one of ``PRESENCE_METHODS``) perturber for a dataset's classes (in class
    order); the reference class is ``reference`` or, by default, the first class.

    Raises ``InputError`` for a reference that is not one of the classes, fewer than 2 classes,
    or more than ``MAX_CLASSES`` (three stripe orientations)."""
    names = tuple(class_names)
    if reference is not None and reference not in names:
        raise InputError(
            None, f"--reference-class {reference!r} is not a class of this dataset "
            f"(classes: {', '.join(names)})",
        )  # fmt: skip
    if len(names) < 2:
        raise InputError(None, f"pattern-presence needs at least 2 classes, the dataset has "
                         f"{len(names)}")  # fmt: skip
    if len(names) > MAX_CLASSES:
        raise InputError(
            None, f"pattern-presence marks at most {MAX_CLASSES} classes (a reference and three "
            f"stripe orientations); the dataset has {len(names)}: {', '.join(names)}; use "
            "--method salm",
        )  # fmt: skip
    return PresencePerturber(method, names, reference or names[0], key)


def load_presence(data: dict) -> PresencePerturber:
    """A saved presence perturber (the dict ``describe`` wrote)."""
    return PresencePerturber(
        method=data["method"],
        class_names=tuple(data["class_names"]),
        reference=data["reference_class"],
        key=data["key"] if isinstance(data["key"], str) else int(data["key"]),
        class_values=tuple(int(v) for v in data.get("class_values", ())),
    )
