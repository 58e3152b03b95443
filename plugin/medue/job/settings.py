"""What a user chooses for a protect job (recorded whole in the manifest), and the fitting bound.

A job fits its method on a sample of the dataset, never on all of it at once, so that an archive
of hundreds of volumes fits in memory (``medue.job.sample`` draws it); the protected copies are
still made for every case, one at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from medue.budget import BudgetRequest
from medue.methods import CLASSIFICATION_METHODS, DEFAULT_METHOD, JSON_METHODS
from medue.methods.names import MIXED_STEP_METHODS, band_radius_for
from medue.prepare import RoiSpec

if TYPE_CHECKING:  # the check runs after the job (medue.job.check), never inside it
    from medue.job.check import CheckSettings

FIT_VOXELS = 2**27
"""The default fitting sample holds cases drawn in seeded order until the next one would take it
past this many voxels (134 M; at least one case). Memory: about 1.5 GB of prepared arrays
(normalised image and texture in float32, class map and two masks in uint8/bool: 11 bytes a
voxel), up to about 4 GB while EMN holds its per-slice tensors (float32 mask and delta, int64
class map): well inside this 24 GB machine, beside the one case being applied. What the methods
need is far less: UMed draws 300 x 8 training patches (2D 128 x 128, 3D 16 x 64 x 64), and
134 M voxels are two whole 512 x 512 x 256 CT volumes, 500 CT slices or 30,000 slices of
64 x 64; EMN and SALM fit one delta per sample, so their fit time grows with the sample and this
bound is also their time bound. Counting voxels rather than cases keeps every case of a dataset
of 2D slices (the MNI152, lesion and classification benchmarks still fit on all of theirs) and
a few volumes of a CT archive."""


@dataclass(frozen=True)
class ProtectSettings:
    """Everything a user chooses for a protect job (recorded whole in the manifest).

    ``fit_cases``: the number of cases the method is fitted on, drawn deterministically from
    ``seed`` (``medue.job.sample``); None (the default) draws as many as fit in ``FIT_VOXELS``.
    A classification sample holds at least one image of every class, even past the limit. The
    cases left out of the fit are protected all the same: the fixed patterns and the generators
    (UMed, salm-generator) apply to any image, class-wise SALM gives an image its class's noise
    field, salm-random draws its signs, and EMN, salm-adversarial and salm-emn-image optimise it
    for a few steps against their frozen surrogate (``unseen_steps``), a weaker noise than a
    fitted image's.

    ``check`` is recorded here but run by the caller after ``protect_dataset`` returns
    (``medue.job.check.check_written_release``): the job itself never trains a victim.
    """

    method: str = DEFAULT_METHOD
    roi: RoiSpec = field(default_factory=RoiSpec)
    budget: BudgetRequest = field(default_factory=BudgetRequest)
    ct_window: str = "soft_tissue"
    mode: str = "auto"
    iterations: int | None = None
    seed: int = 0
    check: CheckSettings | None = None  # a victim check of the written release (--check)
    top_k: float | None = None  # SALM: the share of each image's voxels changed (None: default)
    fit_cases: int | None = None  # cases in the fitting sample (None: as many as FIT_VOXELS)
    reference_class: str | None = None  # pattern-presence: the class left unchanged (None: first)

    def __post_init__(self) -> None:
        if self.roi.band_radius is None:  # the method's own band, recorded as a number
            roi = replace(self.roi, band_radius=band_radius_for(self.method))
            object.__setattr__(self, "roi", roi)
        if self.method in MIXED_STEP_METHODS and not self.budget.mixed_steps:  # they can mix steps
            object.__setattr__(self, "budget", replace(self.budget, mixed_steps=True))

    @property
    def classification(self) -> bool:
        """Whether the method protects a classification dataset (one class per image)."""
        return self.method in CLASSIFICATION_METHODS

    @property
    def fits_on_images(self) -> bool:
        """Whether fitting reads images: not for the fixed patterns and baselines, which are set
        by the seed and the label values alone."""
        return self.method not in JSON_METHODS

    def as_dict(self) -> dict:
        return asdict(self)
