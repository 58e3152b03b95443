"""Preview one case: the protected image a job would write, in memory, with its visibility.

What a clinician looks at before protecting a dataset. The values are the ones a job writes
(perturbed within the budget and rounded to what the file can store, ``job.apply``), returned as
floats in native units (HU on CT) on the source's grid; nothing is written beside the original.
Methods with nothing to fit (the patterns and baselines) preview at once; fitted methods (UMed,
EMN, SALM) need a fitted perturber: the dataset's saved one (``medue fit`` or an earlier job) —
fitting on one case would take minutes and would not be what the job writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medue.datasets import Case, load_case
from medue.errors import InputError
from medue.intensity import default_window
from medue.io.atomic import atomic_path
from medue.io.image_file import apply_geometry
from medue.io.volume import Volume
from medue.job.apply import held_under_preset, measure_change
from medue.job.run import ProtectSettings
from medue.methods import JSON_METHODS, FitOptions, fit_method
from medue.methods.base import Perturber
from medue.methods.names import changed_fraction
from medue.prepare import prepare_case, prepare_classified


@dataclass
class Preview:
    """A case and its protected values: ``protected`` is (z, y, x) native units, float64."""

    original: Volume
    protected: np.ndarray
    metrics: dict
    budget: dict

    @property
    def perturbation(self) -> np.ndarray:
        """protected - original, native units (HU on CT)."""
        return self.protected - self.original.array.astype(np.float64)


def preview_case(case: Case, settings: ProtectSettings, perturber: Perturber | None) -> Preview:
    """Protect ``case`` in memory. Raises InputError for a bad case or a fitted method without a
    saved perturber."""
    if perturber is None and (settings.method not in JSON_METHODS or settings.classification):
        raise InputError(
            case.image,
            f"{settings.method} needs a fitted method to preview: run a protect job (or "
            "`medue fit`) on the dataset first, then preview again",
        )
    loaded = load_case(case, require_label=settings.roi.box is None and not settings.classification)
    window = default_window(loaded.image.array, loaded.image.modality, settings.ct_window)
    if settings.classification:
        names = perturber.class_names  # a saved classification method knows its classes
        fraction = changed_fraction(settings.method, getattr(perturber, "top_k", None))
        prepared = prepare_classified(loaded, settings.budget, window, names, fraction)
    else:
        values = perturber.class_values if perturber is not None else _label_values(loaded.label)
        prepared = prepare_case(loaded, settings.roi, settings.budget, window, values or None)
    if perturber is None:
        perturber = fit_method(settings.method, [prepared], FitOptions(seed=settings.seed,
                               class_values=tuple(values or ())))  # fmt: skip
    protected, held = held_under_preset(loaded.image, prepared, perturber)
    region = prepared.allowed.reshape(loaded.image.shape)
    budget = prepared.budget
    metrics = measure_change(loaded.image.array, protected, region, budget.noise_sigma,
                             loaded.image.encoding.psnr_peak, budget.window)  # fmt: skip
    described = budget.as_dict()
    described["rule"] = "; ".join(filter(None, (budget.rule, held)))
    return Preview(loaded.image, protected.astype(np.float64), metrics, described)


def write_preview(preview: Preview, path: Path, perturbation: bool = False) -> Path:
    """The protected image (or the perturbation) as a float32 file on the source's grid
    (gzip level 1 for a ``.gz`` name; a plain ``.nii`` is written several times faster)."""
    values = preview.perturbation if perturbation else preview.protected
    image = sitk.GetImageFromArray(values.astype(np.float32))
    apply_geometry(image, preview.original.geometry)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=path.suffix == ".gz", compressionLevel=1)
    return path


def _label_values(label: np.ndarray | None) -> tuple[int, ...]:
    """The label values present, without 0 (a count per value: faster than sorting)."""
    if label is None:
        return (1,)
    if label.min() < 0:
        return tuple(int(v) for v in np.unique(label) if v)
    return tuple(int(v) for v in np.flatnonzero(np.bincount(label.ravel())) if v)
