"""Run the key-against-decoys test on a suspect classifier (white-box: the model file is here).

For every key (the owner's first, then ``K`` decoys, ``medue.verify.decoys``) the probes get that
key's mark for the marked class, and the suspect's response is, per probe image, how far the mark
moves its score of the marked class above its score of the reference class, compared with the
clean probe: ``(s_B - s_A)(probe + mark) - (s_B - s_A)(probe)``. The owner's key is then ranked
among the decoys (``medue.verify.rank``). A release with several marked classes is tested for
each and the smallest p-value kept, Bonferroni-corrected (times the number of classes), so the
false-positive rate stays at most alpha.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from medue.errors import InputError
from medue.verify.decoys import decoy_keys
from medue.verify.probes import ProbeSet
from medue.verify.rank import ALPHA, RankTest, rank_test
from medue.verify.record import VerifyRecord
from medue.verify.suspect import scores

DECOYS_WHITE_BOX = 199
"""Decoys for a model at hand: p resolves to 0.005, so alpha = 0.01 leaves room for one tie."""


@dataclass
class VerifyResult:
    """The decision and what it rests on, per marked class (the smallest p decides)."""

    p_value: float  # Bonferroni-corrected over the marked classes
    alpha: float
    tests: dict[str, RankTest]  # per marked class
    responses: dict[str, np.ndarray] = field(repr=False)  # per class: (K + 1, N), key first
    probes: int = 0
    amplitude: float = 0.0
    null: str = "decoys"  # what the suspect is ranked against: decoy keys, or reference models
    floor: float = 0.0  # the least response that can be detected (reference-calibrated tests)
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # pictures for the
    # report: a segmenter's foreground (H, W) bool on the first probe, "clean" and "marked"

    @property
    def below_floor(self) -> bool:
        """Whether every tested response is under ``floor`` (then nothing is detected)."""
        return all(t.key_response < self.floor for t in self.tests.values())

    @property
    def detected(self) -> bool:
        """p <= alpha, and a response of at least ``floor``: requiring more than p only lowers
        the false-positive rate, so it stays at most alpha."""
        return self.p_value <= self.alpha and not self.below_floor

    def as_dict(self) -> dict:
        return {
            "detected": self.detected,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "probes": self.probes,
            "mark_amplitude_native": self.amplitude,
            "ranked_against": "decoy keys" if self.null == "decoys" else "clean reference models",
            "response_floor": self.floor,
            "classes": {name: test.as_dict() for name, test in self.tests.items()},
        }


def verify_classifier(
    model: torch.nn.Module,
    record: VerifyRecord,
    probes: ProbeSet,
    source: str,
    decoys: int = DECOYS_WHITE_BOX,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """Test ``model`` (a classifier taking native-unit images, ``medue.verify.suspect``) for the
    keyed marks of ``record`` on ``probes``. Raises ``InputError`` naming ``source`` when the
    model's outputs do not have a score for every class of the release."""
    names = record.perturber.class_names
    reference = names.index(record.perturber.reference)
    clean = _margins(model, probes.images, source, len(names))
    keys = [record.key, *decoy_keys(record.key, decoys)]
    shape = probes.images.shape[1:]
    tests, responses, done = {}, {}, 0
    total = len(keys) * len(record.marked_classes)
    for name in record.marked_classes:
        marked = names.index(name)
        rows = []
        for key in keys:
            images = probes.with_mark(record.mark(name, shape, key), record.amplitude)
            margin = _margins(model, images, source, len(names))
            rows.append(
                margin[:, marked] - margin[:, reference] - (clean[:, marked] - clean[:, reference])
            )
            done += 1
            if progress is not None:
                progress(done, total)
        responses[name] = np.stack(rows)
        tests[name] = rank_test(responses[name][0], responses[name][1:])
    p = min(1.0, min(t.p_value for t in tests.values()) * len(tests))
    return VerifyResult(p, ALPHA, tests, responses, len(probes.ids), record.amplitude)


def _margins(model: torch.nn.Module, images: np.ndarray, source: str, classes: int) -> np.ndarray:
    out = scores(model, images, source)
    if out.ndim != 2 or out.shape[1] < classes:
        raise InputError(source, f"returned scores shaped {out.shape}; a classifier of this "
                         f"release's {classes} classes returns (N, {classes})")  # fmt: skip
    return out.astype(np.float64)
