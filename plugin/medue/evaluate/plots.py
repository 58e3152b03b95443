"""PNG plots people look at: learning curves, victim DSC against PSNR across releases, and
protection under each countermeasure.

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


def countermeasure_ratios(
    ratios: dict[str, dict[str, float]], path: Path, target: float | None = None
) -> Path:
    """Grouped bars: protected / clean victim metric per countermeasure, one bar per release.

    Lower is better protection; 100 % means the countermeasure left the attacker nothing to lose.
    ``target`` draws the bar a release must stay under.
    """
    countermeasures = list(dict.fromkeys(cm for by_cm in ratios.values() for cm in by_cm))
    width = 0.8 / max(1, len(ratios))
    figure, axis = plt.subplots(figsize=(max(6.0, 0.8 * len(countermeasures)), 4))
    for index, (release, by_cm) in enumerate(ratios.items()):
        xs = [i + index * width for i in range(len(countermeasures))]
        axis.bar(xs, [100 * by_cm.get(cm, float("nan")) for cm in countermeasures], width,
                 label=release)  # fmt: skip
    if target is not None:
        axis.axhline(100 * target, color="red", linestyle=":", label=f"target {target:.0%}")
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(countermeasures))])
    axis.set_xticklabels(countermeasures, rotation=30, ha="right", fontsize=8)
    axis.set_ylabel("protected / clean victim (%)")
    axis.set_ylim(0, 115)
    # below the axes, two entries a row: release names carry their PSNR and get long
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
    plt.close(figure)
    return path


def frontier(
    points: dict[str, list[tuple[float, float]]],
    path: Path,
    xlabel: str,
    floor: float | None = None,
    target: float | None = None,
) -> Path:
    """Protected/clean DSC against visibility, one line per method (points sorted by x).

    ``floor``: what an untrained victim scores (its first-epoch DSC over the clean best);
    ``target``: the protection target; both drawn as horizontal lines when given.
    """
    figure, axis = plt.subplots(figsize=(6, 4))
    for method, xy in sorted(points.items()):
        xs, ys = zip(*sorted(xy), strict=True)
        axis.plot(xs, [100 * y for y in ys], "o-", label=method)
    for level, name, style in ((floor, "untrained victim", ":"), (target, "target", "--")):
        if level is not None:
            axis.axhline(100 * level, color="grey", linestyle=style, label=name)
    axis.set_xlabel(xlabel)
    axis.set_ylabel("protected / clean victim DSC (%)")
    axis.set_ylim(0, 110)
    axis.legend(fontsize=7)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return path
