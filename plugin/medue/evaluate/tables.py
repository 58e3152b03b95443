"""Victim runs -> one row per (victim, countermeasure): clean vs protected, mean +- sd over seeds.

The number a data owner needs is in the ratio column: the protected victim's DSC as a fraction of
the clean victim's under the same countermeasure (issue 5's bar is <= 30%). A countermeasure that
also hurts the clean attacker is not a free win for him, which is why both sides are shown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Row:
    victim: str
    countermeasure: str
    seeds: int
    clean_best: tuple[float, float]  # mean, sd
    clean_final: tuple[float, float]
    protected_best: tuple[float, float]
    protected_final: tuple[float, float]
    protected_best_max: float = float("nan")  # the worst seed for the data owner

    @property
    def ratio(self) -> float:
        """Protected best DSC as a fraction of the clean best DSC."""
        return self.protected_best[0] / self.clean_best[0] if self.clean_best[0] else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def summarise(records: list[dict]) -> list[Row]:
    """Group runs by victim and countermeasure; rows in first-seen order."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        spec = record["spec"]
        groups[spec["victim"], spec["countermeasure"]][spec["source"]].append(record)
    rows = []
    for (victim, countermeasure), sides in groups.items():
        clean, protected = sides.get("clean", []), sides.get("protected", [])
        rows.append(
            Row(
                victim=victim,
                countermeasure=countermeasure,
                seeds=min(len(clean), len(protected)),
                clean_best=_mean_sd(clean, "best_dsc"),
                clean_final=_mean_sd(clean, "final_dsc"),
                protected_best=_mean_sd(protected, "best_dsc"),
                protected_final=_mean_sd(protected, "final_dsc"),
                protected_best_max=max((r["best_dsc"] for r in protected), default=float("nan")),
            )
        )
    return rows


def mean_curves(records: list[dict]) -> dict[tuple[str, str, str], list[float]]:
    """Mean clean-test DSC per epoch for each (source, victim, countermeasure)."""
    curves: dict[tuple[str, str, str], list[list[float]]] = defaultdict(list)
    for record in records:
        spec = record["spec"]
        curves[spec["source"], spec["victim"], spec["countermeasure"]].append(
            record["dsc_per_epoch"]
        )
    return {key: np.mean(runs, axis=0).tolist() for key, runs in curves.items()}


def markdown(rows: list[Row]) -> str:
    lines = [
        "| victim | countermeasure | seeds | clean DSC best | protected DSC best"
        " | protected / clean | clean DSC final | protected DSC final |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.victim} | {row.countermeasure} | {row.seeds} | {_fmt(row.clean_best)} | "
            f"{_fmt(row.protected_best)} | {row.ratio:.0%} | {_fmt(row.clean_final)} | "
            f"{_fmt(row.protected_final)} |"
        )
    return "\n".join(lines)


def _mean_sd(records: list[dict], field: str) -> tuple[float, float]:
    values = [r[field] for r in records]
    return (float(np.mean(values)), float(np.std(values))) if values else (float("nan"), 0.0)


def _fmt(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"
