"""Protection methods behind one interface (see ``base``): fit on prepared cases, perturb a case.

The names (``METHODS``, ``DEFAULT_METHOD``, ...) come from ``names`` and load nothing heavy.
``fit_method``, ``load_perturber`` and ``FitOptions`` come from ``registry`` and are loaded on
first use (PEP 562 module ``__getattr__``), with torch and MONAI: so that ``medue --help``, a
bad argument or ``medue info`` answer without MONAI's import (docs/BENCHMARKS.md §7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medue.methods.names import (
    CLASSIFICATION_METHODS,
    DATA_PARALLEL_METHODS,
    DEFAULT_METHOD,
    JSON_METHODS,
    METHODS,
)

if TYPE_CHECKING:
    from medue.methods.registry import FitOptions, fit_method, load_perturber

__all__ = [
    "CLASSIFICATION_METHODS",
    "DATA_PARALLEL_METHODS",
    "DEFAULT_METHOD",
    "JSON_METHODS",
    "METHODS",
    "FitOptions",
    "fit_method",
    "load_perturber",
]
_FROM_REGISTRY = ("FitOptions", "fit_method", "load_perturber")


def __getattr__(name: str) -> Any:
    if name in _FROM_REGISTRY:
        from medue.methods import registry  # noqa: PLC0415 (torch and MONAI load here)

        return getattr(registry, name)
    raise AttributeError(f"module 'medue.methods' has no attribute {name!r}")
