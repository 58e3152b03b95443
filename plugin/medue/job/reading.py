"""Reading one case of a protect job, and preparing it for the method: the same steps for the
dataset scan, the fitting sample and the apply pass, so that a case prepared twice (for the fit,
then for its copy) gives the same arrays.
"""

from __future__ import annotations

from medue.datasets import Case, LoadedCase, load_case
from medue.errors import InputError
from medue.intensity import default_window
from medue.job.settings import ProtectSettings
from medue.methods.names import changed_fraction
from medue.prepare import PreparedCase, prepare_case, prepare_classified


def read_case(case: Case, settings: ProtectSettings) -> LoadedCase:
    """Load ``case`` with the job's checks: a label map unless an ROI box (or a classification
    method) places the region; a class for a classification method. Raises ``InputError``."""
    if settings.classification and case.problem is None and case.category is None:
        raise InputError(case.image, "has no class (give a CSV or one folder per class)")
    needs_label = settings.roi.box is None and not settings.classification
    return load_case(case, require_label=needs_label)


def prepare_read(
    loaded: LoadedCase,
    settings: ProtectSettings,
    class_values: tuple[int, ...],
    class_names: tuple[str, ...],
) -> PreparedCase:
    """``loaded`` normalised at its window, with its masks and budget (``medue.prepare``);
    ``class_values`` (segmentation) or ``class_names`` (classification) are the dataset's."""
    window = default_window(loaded.image.array, loaded.image.modality, settings.ct_window)
    if settings.classification:
        fraction = changed_fraction(settings.method, settings.top_k)
        return prepare_classified(loaded, settings.budget, window, class_names, fraction)
    return prepare_case(loaded, settings.roi, settings.budget, window, class_values)
