"""Victim runs -> one row per (victim, countermeasure): clean vs protected, mean +- sd over seeds.

The numbers a data owner needs are the ratios: the protected victim's DSC as a fraction of the
clean victim's under the same countermeasure, for each of the two attackers of
``medue.evaluate.victim`` — the one with only the release (``ratio_release_only``) and the one who
early-stops on clean data (``ratio``). A countermeasure that also hurts the clean attacker is not
a free win for him, which is why both sides are shown.
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
    clean_release_only: tuple[float, float] = (float("nan"), 0.0)
    protected_release_only: tuple[float, float] = (float("nan"), 0.0)
    protected_release_only_max: float = float("nan")

    @property
    def ratio(self) -> float:
        """The attacker who early-stops on clean data: protected / clean best DSC."""
        return _ratio(self.protected_best[0], self.clean_best[0])

    @property
    def ratio_release_only(self) -> float:
        """The attacker with only the release: protected / clean DSC of the kept models."""
        return _ratio(self.protected_release_only[0], self.clean_release_only[0])

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "ratio_release_only": self.ratio_release_only}


def _ratio(protected: float, clean: float) -> float:
    return protected / clean if clean else float("nan")


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
                clean_release_only=_mean_sd(clean, "release_only_dsc"),
                protected_release_only=_mean_sd(protected, "release_only_dsc"),
                protected_release_only_max=max(
                    (r.get("release_only_dsc", float("nan")) for r in protected),
                    default=float("nan"),
                ),
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
    """Both attackers side by side: release only (model kept by its validation split of the
    release), then early stopping on clean data, then the last models."""
    lines = [
        "| victim | countermeasure | seeds"
        " | release only: clean DSC | release only: protected DSC | release only: protected / clean"
        " | early-stops on clean: clean DSC | early-stops on clean: protected DSC"
        " | early-stops on clean: protected / clean"
        " | last model: clean DSC | last model: protected DSC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.victim} | {row.countermeasure} | {row.seeds}"
            f" | {_fmt(row.clean_release_only)} | {_fmt(row.protected_release_only)}"
            f" | {row.ratio_release_only:.0%}"
            f" | {_fmt(row.clean_best)} | {_fmt(row.protected_best)} | {row.ratio:.0%}"
            f" | {_fmt(row.clean_final)} | {_fmt(row.protected_final)} |"
        )
    return "\n".join(lines)


def _mean_sd(records: list[dict], field: str) -> tuple[float, float]:
    values = [r.get(field, float("nan")) for r in records]  # runs stored before a field existed
    return (float(np.mean(values)), float(np.std(values))) if values else (float("nan"), 0.0)


def _fmt(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.3f} ± {pair[1]:.3f}"
