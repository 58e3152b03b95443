"""From a loaded case to what a method works on: normalised image, class map, masks, budget.

Data flows one way (../shared/design.md): load -> prepare (this module) -> method -> write.
Everything here is in (z, y, x) with z = 1 for 2D images, so methods handle one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from medue.budget import Budget, BudgetRequest, ImageFacts, resolve_budget, top_k_count
from medue.datasets import LoadedCase
from medue.errors import InputError
from medue.intensity import Window, default_window
from medue.io import Volume
from medue.masks import contour_band, interior, roi_from_box, roi_from_label, texture_map
from medue.visibility import CT_TISSUE, noise_sigma

UMED_BAND_RADIUS = 3
"""UMed's contour band, voxels either side of the ROI outline (arXiv 2403.14250)."""


@dataclass(frozen=True)
class RoiSpec:
    """Where the ROI comes from: label values (None = any foreground) or a voxel box."""

    label_values: tuple[int, ...] | None = None
    box: tuple[int, ...] | None = None
    band_radius: int | None = None  # voxels; None: the method's (names.band_radius_for)


@dataclass
class PreparedCase:
    """One image ready for a method. Arrays are (z, y, x); ``image`` is in [0, 1]."""

    image_id: str
    image: np.ndarray
    classes: np.ndarray
    band: np.ndarray
    interior: np.ndarray
    texture: np.ndarray
    budget: Budget
    extra: dict = field(default_factory=dict)

    @property
    def allowed(self) -> np.ndarray:
        """Every voxel the perturbation may touch."""
        return self.band | self.interior


def as_3d(array: np.ndarray) -> np.ndarray:
    return array[np.newaxis] if array.ndim == 2 else array


def prepare_case(
    loaded: LoadedCase,
    roi: RoiSpec,
    request: BudgetRequest,
    window: Window | None = None,
    class_values: Sequence[int] | None = None,
) -> PreparedCase:
    """Normalise, build the masks and resolve the budget for one case.

    ``class_values`` lists the label values the surrogate segments, in class order (class 0 is
    background); values not listed count as background.
    """
    image = loaded.image
    window = window or default_window(image.array, image.modality)
    roi_mask = _roi_mask(loaded, roi)
    radius = UMED_BAND_RADIUS if roi.band_radius is None else roi.band_radius
    band = contour_band(roi_mask, radius, in_plane=True)
    inner = interior(roi_mask, band)
    normalised = as_3d(window.normalise(image.array))
    return PreparedCase(
        image_id=loaded.case.image_id,
        image=normalised,
        classes=as_3d(_class_map(loaded.label, roi_mask, class_values)),
        band=as_3d(band),
        interior=as_3d(inner),
        texture=texture_map(normalised, as_3d(inner)),
        budget=resolve_budget(request, window, image.encoding, _facts(image, band | inner)),
    )


def prepare_classified(
    loaded: LoadedCase,
    request: BudgetRequest,
    window: Window,
    class_names: Sequence[str],
    changed_fraction: float,
) -> PreparedCase:
    """One image of a classification dataset: the whole image is the region (the method picks its
    voxels, e.g. SALM's top K), ``extra["category"]`` is the index of its class in
    ``class_names``, and the budget's PSNR floor counts the K voxels ``changed_fraction`` gives
    (``medue.budget.top_k_count``: round(changed_fraction x voxels), at least 1).

    Raises ``InputError`` for an image whose class is not in ``class_names``.
    """
    category = loaded.case.category
    if category not in class_names:
        known = ", ".join(class_names)
        raise InputError(loaded.case.image, f"class {category!r} is not one of: {known}")
    image = loaded.image
    shape = as_3d(image.array).shape
    everything = np.ones(shape, dtype=bool)
    exact = top_k_count(everything.size, changed_fraction) / everything.size  # the K voxels changed
    facts = _facts(image, everything.reshape(image.shape), exact)
    return PreparedCase(
        image_id=loaded.case.image_id,
        image=as_3d(window.normalise(image.array)),
        classes=np.full(shape, list(class_names).index(category) + 1, dtype=np.uint8),
        band=np.zeros(shape, dtype=bool),
        interior=everything,
        texture=np.zeros(shape, dtype=np.float32),
        budget=resolve_budget(request, window, image.encoding, facts),
        extra={"category": list(class_names).index(category)},
    )


def _facts(image: Volume, region: np.ndarray, changed_fraction: float | None = None) -> ImageFacts:
    """The image's noise on the region's slices, its PSNR peak (an 8-bit file's full scale, else
    its own range) and the share of voxels changed (the region's, unless the method changes
    fewer)."""
    tissue = CT_TISSUE if image.modality == "CT" else None
    fraction = float(region.mean()) if changed_fraction is None else changed_fraction
    return ImageFacts(
        noise_sigma=noise_sigma(image.array, region, tissue),
        data_range=image.encoding.psnr_peak or float(np.ptp(image.array)),
        region_fraction=max(fraction, 1.0 / region.size),
    )


def _roi_mask(loaded: LoadedCase, roi: RoiSpec) -> np.ndarray:
    if roi.box is not None:
        return roi_from_box(loaded.image.shape, roi.box)
    if loaded.label is None:
        raise InputError(loaded.case.image, "needs a label map or an ROI box to place the ROI")
    mask = roi_from_label(loaded.label, roi.label_values)
    if not mask.any():
        values = list(roi.label_values or [])
        raise InputError(loaded.case.label, f"no voxels with the ROI label values {values}")
    return mask


def _class_map(
    label: np.ndarray | None, roi_mask: np.ndarray, class_values: Sequence[int] | None
) -> np.ndarray:
    """Consecutive class indices; without a label, the ROI itself is class 1."""
    if label is None:
        return roi_mask.astype(np.uint8)
    values = list(class_values) if class_values else sorted(int(v) for v in np.unique(label) if v)
    classes = np.zeros(label.shape, dtype=np.uint8)
    for index, value in enumerate(values, start=1):
        classes[label == value] = index
    return classes
