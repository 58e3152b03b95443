"""What MedUE's own benchmark measured for a method and preset, shipped with the package.

Why: a protect report whose release was not checked on its own data (no ``--check``) should still
say which countermeasures this method and preset were checked against, and what the victim
scored — on the benchmarks of docs/BENCHMARKS.md, named as such, never passed off as this data.
``benchmarks/run_benchmarks.py`` writes the file from its results (``--reference-only`` rebuilds
it from stored results without training anything).
"""

from __future__ import annotations

import json
from pathlib import Path

REFERENCE_FILE = Path(__file__).with_name("benchmark_reference.json")
SALM_NOTE = (
    "On MedUE's two classification benchmarks (docs/BENCHMARKS.md section 9) victims trained on "
    "SALM releases kept accuracy 1.000 at their best epoch, at 45 dB and far above: not "
    "protective there. Check this release with medue evaluate."
)

PRESENCE_NOTE = (
    "On PneumoniaMNIST (docs/BENCHMARKS.md section 14) +-2 stripes on the pneumonia images "
    "(--epsilon 2, 42.1 dB) left ResNet-18 and DenseNet-121 victims trained on the release at "
    "0.536 and 0.557 balanced accuracy (chance 0.5; 0.855 and 0.843 on the clean copy), for the "
    "attacker with only the release; +-1 (the balanced preset there, 48.1 dB) protected nothing "
    "(0.858 and 0.880). Check this release with medue evaluate."
)


def benchmark_reference(method: str, preset: str | None) -> dict | None:
    """``{"source": ..., "datasets": {name: {...}}}`` for ``method:preset``; None if not run;
    ``{"source": ..., "note": ...}`` for the classification methods (measured by accuracy)."""
    if method.startswith("salm"):
        return {"source": "docs/BENCHMARKS.md section 9", "note": SALM_NOTE}
    if method == "pattern-presence":
        return {"source": "docs/BENCHMARKS.md section 14", "note": PRESENCE_NOTE}
    try:
        data = json.loads(REFERENCE_FILE.read_text())
    except (OSError, ValueError):
        return None
    key = f"{method}:{preset}"
    datasets = data.get("releases", {}).get(key)
    source = data.get("sources", {}).get(key, data.get("source", ""))
    return {"source": source, "datasets": datasets} if datasets else None
