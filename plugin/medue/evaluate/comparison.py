"""Several protected copies of one dataset side by side: ``medue evaluate CLEAN A B ... OUT``.

Why: robustness costs imperceptibility (issue 5), so a data owner choosing a preset needs both on
one page — each release's PSNR beside what the victim kept under each countermeasure. Every
release is evaluated with the same settings into ``OUT/<label>/`` and all share one run store
(``OUT/runs.json``), so the clean victims are trained once. ``OUT/comparison.md`` holds the one
table, ``OUT/countermeasures.png`` the one plot (protected / clean per countermeasure, the 30 %
target line, each release's PSNR in its legend entry).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from medue.evaluate.experiment import EvaluationSettings, evaluate_release
from medue.evaluate.runs import ResultStore
from medue.job.check import PROTECTS_AT_OR_BELOW
from medue.methods.base import CancelToken, ProgressCallback, no_progress
from medue.release import release_method


def evaluate_releases(
    clean: Path,
    releases: Sequence[Path],
    out: Path,
    settings: EvaluationSettings,
    test_folder: Path | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, dict]:
    """``evaluate_release`` for each release (label -> its results), then the comparison page."""
    # both import matplotlib: kept out of the CLI's start-up, as in evaluate_release
    from medue.evaluate.outputs import write_text  # noqa: PLC0415
    from medue.evaluate.plots import countermeasure_ratios  # noqa: PLC0415

    store = ResultStore(Path(out) / "runs.json")
    results = {}
    for label, release in zip(release_labels(releases), releases, strict=True):
        results[label] = evaluate_release(
            clean, release, Path(out) / label, settings, test_folder, progress, cancel, store
        )
    victim = settings.victims[0]
    write_text(Path(out) / "comparison.md", comparison_markdown(results))
    write_text(Path(out) / "comparison.json", json.dumps(_summary(results), indent=1))
    countermeasure_ratios(
        legend_ratios(results, victim), Path(out) / "countermeasures.png", PROTECTS_AT_OR_BELOW
    )
    return results


def release_label(folder: Path) -> str:
    """``method-preset`` from the release's public description (``medue.release``; a release
    written before it: ``method-eps<value>`` from its manifest), else the folder's name."""
    method, preset = release_method(Path(folder))
    if method is None:
        return Path(folder).name
    return f"{method}-{str(preset).replace(' ', '-')}"


def release_labels(folders: Sequence[Path]) -> list[str]:
    """Labels for output sub-folders, made unique with the folder name when two would clash."""
    labels = [release_label(folder) for folder in folders]
    return [
        f"{label}-{Path(folder).name}" if labels.count(label) > 1 else label
        for label, folder in zip(labels, folders, strict=True)
    ]


def ratios_by_release(results: dict[str, dict], victim: str) -> dict[str, dict[str, float]]:
    """release -> countermeasure -> protected / clean best DSC, for one victim."""
    return {
        label: {r["countermeasure"]: r["ratio"] for r in result["rows"] if r["victim"] == victim}
        for label, result in results.items()
    }


def legend_ratios(results: dict[str, dict], victim: str) -> dict[str, dict[str, float]]:
    """``ratios_by_release`` keyed by "label (PSNR dB)": the plot shows both sides of the trade."""
    return {
        f"{label} ({results[label]['imperceptibility']['psnr_db_mean']:.1f} dB)": ratios
        for label, ratios in ratios_by_release(results, victim).items()
    }


def comparison_markdown(results: dict[str, dict]) -> str:
    """One row per release and victim: imperceptibility, then protected DSC (and % of clean) per
    countermeasure."""
    countermeasures = list(
        dict.fromkeys(r["countermeasure"] for res in results.values() for r in res["rows"])
    )
    lines = [
        "| release | victim | PSNR mean / min (dB) | SSIM | "
        + " | ".join(countermeasures) + " |",
        "|---|---|---|---|" + "---|" * len(countermeasures),
    ]  # fmt: skip
    for label, result in results.items():
        imp = result["imperceptibility"]
        victims = dict.fromkeys(r["victim"] for r in result["rows"])
        for victim in victims:
            by_cm = {r["countermeasure"]: r for r in result["rows"] if r["victim"] == victim}
            cells = [_cell(by_cm.get(cm)) for cm in countermeasures]
            lines.append(
                f"| {label} | {victim} | {imp['psnr_db_mean']:.1f} / {imp['psnr_db_min']:.1f} | "
                f"{imp['ssim_mean']:.4f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(
        [
            "# medue evaluate: releases side by side",
            "",
            "Each cell: the protected victim's DSC on clean test cases (mean over seeds) and, in "
            "brackets, that as a fraction of the clean victim's under the same countermeasure "
            f"(protection target: <= {PROTECTS_AT_OR_BELOW:.0%}), for the attacker with only the "
            "release (model kept by a validation split of the release) / the attacker who "
            "early-stops on clean data.",
            "",
            *lines,
            "",
        ]
    )


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    release_only = f"{row['protected_release_only'][0]:.3f} ({row['ratio_release_only']:.0%})"
    return f"{release_only} / {row['protected_best'][0]:.3f} ({row['ratio']:.0%})"


def _summary(results: dict[str, dict]) -> dict:
    return {
        label: {"imperceptibility": r["imperceptibility"], "rows": r["rows"]}
        for label, r in results.items()
    }
