"""The names of the protection methods, and which family each belongs to, without loading any.

Parsing a command line, answering a server's request or writing a manifest needs the names only;
the methods themselves (torch, MONAI) load when one is fitted or applied
(``medue.methods.registry``).
"""

from __future__ import annotations

from medue.methods.baselines import BASELINES
from medue.methods.patterns import PATTERN_METHODS
from medue.methods.presence import PRESENCE_METHODS
from medue.prepare import UMED_BAND_RADIUS

EMN_METHODS = ("emn", "emn-image")
"""Error-minimizing noise (Huang et al. 2021), in the ROI or on the whole image."""
SALM_METHODS = ("salm", "salm-generator", "salm-adversarial", "salm-random", "salm-emn-image")
"""SALM (arXiv 2403.10573) and its variants and baselines, for classification datasets."""
DEFAULT_TOP_K = 0.1
"""SALM's default share of each image's voxels that it changes."""

METHODS = ("umed", *PATTERN_METHODS, *EMN_METHODS, *BASELINES, *PRESENCE_METHODS, *SALM_METHODS)
DEFAULT_METHOD = "pattern-checker"
"""Chosen on real multi-patient data (docs/BENCHMARKS.md section 13, DRIVE): the one-voxel
checkerboard on the ROI, label-locked, is the release a segmentation victim learns instead of the
anatomy at the papers' 50 dB; the 8x8 blocks (``pattern-blocks``, the earlier default chosen on
the 16-slice lesion set) left a DRIVE victim 93 % of its clean DSC. Its numbers: docs/METHODS.md."""
DEFAULT_CLASSIFICATION_METHOD = "pattern-presence"
"""The method for a classification dataset when none is named: on PneumoniaMNIST (docs/BENCHMARKS.md
section 14) +-2 stripes on every class but the first left a victim with only the release near
chance, where SALM protected nothing (the balanced preset's +-1 there did not: section 14b)."""


def band_radius_for(method: str | None) -> int:
    """The contour band a method uses unless the user sets one (``--band-radius``): 0 for the
    fixed patterns (the pattern on the ROI alone: on DRIVE the band's PSNR buys more as amplitude
    on the ROI, docs/BENCHMARKS.md section 13), UMed's 3 voxels for the others (and None)."""
    return 0 if method in PATTERN_METHODS else UMED_BAND_RADIUS


CLASSIFICATION_METHODS = (*PRESENCE_METHODS, *SALM_METHODS)
"""Methods for classification datasets (one class per image); the others segment an ROI."""
JSON_METHODS = (*PATTERN_METHODS, *PRESENCE_METHODS, *BASELINES)
"""Methods saved as a small JSON file (nothing fitted) rather than a ``.pt`` file."""
DATA_PARALLEL_METHODS = ("umed",)
"""Methods whose fit trains on every rank of a torchrun job with DistributedDataParallel
(``medue.distributed``); the others are fitted by rank 0 alone."""
MIXED_STEP_METHODS = (*PATTERN_METHODS, *PRESENCE_METHODS)
"""Methods that can mix two whole steps to sit at a preset's PSNR floor (``medue.budget``)."""


def changed_fraction(method: str, top_k: float | None) -> float:
    """The share of each image's voxels a classification ``method`` changes (what the budget's
    PSNR floor counts): all of them for the whole-image methods, else SALM's top K."""
    return 1.0 if method in ("salm-emn-image", *PRESENCE_METHODS) else (top_k or DEFAULT_TOP_K)
