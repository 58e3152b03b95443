"""Protection methods behind one interface (see ``base``): fit on prepared cases, perturb a case.

``fit_method`` picks the method by name; ``load_perturber`` reads any saved one (UMed generators
are ``.pt`` files, baselines small ``.json`` files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medue.errors import InputError
from medue.methods.base import CancelToken, Perturber, ProgressCallback, no_progress
from medue.methods.baselines import BASELINES, BaselinePerturber, load_baseline
from medue.methods.umed import UMedConfig, fit_umed, load_umed
from medue.prepare import PreparedCase

METHODS = ("umed", *BASELINES)


@dataclass(frozen=True)
class FitOptions:
    """Method settings a user may set; None means the method's default."""

    mode: str = "2d"
    iterations: int | None = None
    seed: int = 0
    class_values: tuple[int, ...] = ()


def fit_method(
    method: str,
    cases: list[PreparedCase],
    options: FitOptions,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Perturber:
    if method in BASELINES:
        return BaselinePerturber(method=method, seed=options.seed)
    if method != "umed":
        raise InputError(None, f"unknown method {method!r} (choose one of: {', '.join(METHODS)})")
    config = UMedConfig(mode=options.mode, seed=options.seed, class_values=options.class_values)
    if options.mode == "3d":
        config.patch = (16, 64, 64)
    if options.iterations is not None:
        config.iterations = options.iterations
    return fit_umed(cases, config, progress, cancel)


def load_perturber(path: str | Path) -> Perturber:
    """Load a saved generator (``.pt``) or baseline (``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "generator file does not exist")
    try:
        return load_baseline(path) if path.suffix == ".json" else load_umed(path)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise InputError(path, f"not a MedUE generator file ({type(error).__name__})") from None
