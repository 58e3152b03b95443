"""PNG plots people look at: learning curves, and victim DSC against PSNR across releases.

Matplotlib with the Agg backend (no display on a server); each function writes one file
atomically and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from medue.io.atomic import atomic_path  # noqa: E402


def learning_curves(curves: dict[tuple[str, str, str], list[float]], path: Path) -> Path:
    """One panel per (victim, countermeasure): clean vs protected mean clean-test DSC per epoch."""
    panels = sorted({(victim, cm) for _, victim, cm in curves})
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False, sharey=True
    )
    for axis, (victim, countermeasure) in zip(axes.flat, panels, strict=False):
        for source, style in (("clean", "-"), ("protected", "--")):
            curve = curves.get((source, victim, countermeasure))
            if curve:
                axis.plot(range(1, len(curve) + 1), curve, style, label=source)
        axis.set_title(f"{victim} · {countermeasure}", fontsize=9)
        axis.set_ylim(0, 1)
        axis.set_xlabel("epoch")
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    axes[0, 0].set_ylabel("clean-test DSC")
    axes[0, 0].legend(fontsize=8)
    return _save(figure, path)


def metric_vs_psnr(
    points: Sequence[tuple[str, float, float]], path: Path, metric: str = "victim DSC (best epoch)"
) -> Path:
    """Scatter of (label, PSNR dB, victim metric); the clean reference as a horizontal line."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for label, psnr_db, value in points:
        if label == "clean":
            axis.axhline(value, color="grey", linestyle=":", label="clean")
            continue
        axis.scatter(psnr_db, value, label=label)  # a legend: nearby points keep readable
    axis.set_xlabel("PSNR on the written files (dB, mean)")
    axis.set_ylabel(metric)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7, loc="lower left", ncol=2)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)
    return path
