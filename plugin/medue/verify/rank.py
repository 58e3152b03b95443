"""The key-against-decoys rank test: a p-value whose false-positive rate is exact.

The unit of randomisation is the key. Before the suspect model existed, the owner's key was drawn
at random (and committed to in the release, ``medue.keys.commitment``); ``K`` decoy keys are
derived from it by HMAC (``medue.verify.decoys``), so a third party holding the key recomputes
the same decoys and the owner cannot pick them. If the suspect was *not* trained on the release,
nothing in it depends on the key, so its response to the key's mark is exchangeable with its
responses to the decoys' marks, and the rank of the key's response among the K + 1 is uniform.
Hence the Monte-Carlo p-value

    p = (1 + #{decoys responding at least as strongly as the key}) / (K + 1)

satisfies P(p <= alpha) <= alpha for every alpha under that null (Phipson & Smyth, "Permutation
P-values Should Never Be Zero", Stat. Appl. Genet. Mol. Biol. 2010; the same construction as
the radioactive-data and dataset-watermark tests: Sablayrolles et al., arXiv 2002.00937; Li et
al., arXiv 2210.00875). Its resolution is 1 / (K + 1): ``K = 999`` decoys reach p = 0.001.

The effect size is how far the key's response stands above the decoys', in decoy standard
deviations; the per-image spread tells whether it is carried by most probe images or by few.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ALPHA = 0.01
"""The decision threshold the report states (a 1 % false-positive rate)."""


@dataclass(frozen=True)
class RankTest:
    """The outcome of one key-against-decoys test (responses in the response's own units)."""

    p_value: float  # (1 + #{decoys >= key}) / (K + 1)
    decoys: int  # K
    key_response: float  # mean over probe images of the response to the key's mark
    decoy_mean: float  # mean over decoys of their mean responses
    decoy_sd: float  # SD over decoys of their mean responses
    effect: float  # (key_response - decoy_mean) / decoy_sd; inf when the decoys do not vary
    key_image_sd: float  # SD over probe images of the response to the key's mark
    images_above: float  # share of probe images whose key response exceeds their decoy mean
    alpha: float = ALPHA

    @property
    def detected(self) -> bool:
        """Whether the test rejects "not trained on this release" at ``alpha``."""
        return self.p_value <= self.alpha

    def as_dict(self) -> dict:
        """The fields as strict JSON values: an infinite effect (decoys that do not vary) is
        ``None``."""
        data = {k: (v if not isinstance(v, float) or np.isfinite(v) else None)
                for k, v in asdict(self).items()}  # fmt: skip
        return {**data, "detected": self.detected}


def rank_test(key: np.ndarray, decoys: np.ndarray, alpha: float = ALPHA) -> RankTest:
    """The rank test of ``key`` (n,) (one response per probe image) against ``decoys`` (K, n).

    Ties count against the key (a decoy equal to the key counts as at least as strong), so a
    suspect that responds to nothing gets p = 1. Raises ``ValueError`` for shapes that do not
    match, no decoys or no probe images, or non-finite responses."""
    key = np.asarray(key, dtype=np.float64)
    decoys = np.asarray(decoys, dtype=np.float64)
    if key.ndim != 1 or decoys.ndim != 2 or decoys.shape[1] != key.shape[0]:
        raise ValueError(f"key (n,) and decoys (K, n) expected, got {key.shape} and {decoys.shape}")
    if key.size == 0 or decoys.shape[0] == 0:
        raise ValueError("the rank test needs at least one probe image and one decoy")
    if not (np.isfinite(key).all() and np.isfinite(decoys).all()):
        raise ValueError("responses must be finite")
    key_mean, decoy_means = float(key.mean()), decoys.mean(axis=1)
    count = decoys.shape[0]
    p = (1 + int(np.count_nonzero(decoy_means >= key_mean))) / (count + 1)
    sd = float(decoy_means.std(ddof=1)) if count > 1 else 0.0
    gap = key_mean - float(decoy_means.mean())
    effect = gap / sd if sd > 0 else (float("inf") if gap > 0 else 0.0)
    return RankTest(
        p_value=p,
        decoys=count,
        key_response=key_mean,
        decoy_mean=float(decoy_means.mean()),
        decoy_sd=sd,
        effect=effect,
        key_image_sd=float(key.std(ddof=1)) if key.size > 1 else 0.0,
        images_above=float(np.mean(key > decoys.mean(axis=0))),
        alpha=alpha,
    )
