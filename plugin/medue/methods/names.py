"""The names of the protection methods, and which family each belongs to, without loading any.

Parsing a command line, answering a server's request or writing a manifest needs the names only;
the methods themselves (torch, MONAI) load when one is fitted or applied
(``medue.methods.registry``).
"""

from __future__ import annotations

from medue.methods.baselines import BASELINES
from medue.methods.patterns import PATTERN_METHODS

EMN_METHODS = ("emn", "emn-image")
"""Error-minimizing noise (Huang et al. 2021), in the ROI or on the whole image."""
SALM_METHODS = ("salm", "salm-generator", "salm-adversarial", "salm-random", "salm-emn-image")
"""SALM (arXiv 2403.10573) and its variants and baselines, for classification datasets."""
DEFAULT_TOP_K = 0.1
"""SALM's default share of each image's voxels that it changes."""

METHODS = ("umed", *PATTERN_METHODS, *EMN_METHODS, *BASELINES, *SALM_METHODS)
DEFAULT_METHOD = "pattern-blocks"
"""Chosen by the frontier on the benchmarks (docs/BENCHMARKS.md §8): at the same visibility it
protects as much as the one-voxel marker undefended and keeps more through smoothing, where UMed's
generators keep the victim at 98-100 % of its clean DSC."""
CLASSIFICATION_METHODS = SALM_METHODS
"""Methods for classification datasets (one class per image); the others segment an ROI."""
JSON_METHODS = (*PATTERN_METHODS, *BASELINES)
"""Methods saved as a small JSON file (nothing fitted) rather than a ``.pt`` file."""
DATA_PARALLEL_METHODS = ("umed",)
"""Methods whose fit trains on every rank of a torchrun job with DistributedDataParallel
(``medue.distributed``); the others are fitted by rank 0 alone."""
