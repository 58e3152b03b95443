"""The "checked against" section of a protect report: a quick victim check of the written release.

A step after the protect job, never inside it: ``medue protect --check`` (and a server runner)
calls ``check_written_release`` once ``medue.job.protect_dataset`` has returned, which runs
``check_release`` and adds its section to the release's manifest and report
(``medue.job.manifest.record_check``). The protect job itself never imports ``medue.evaluate``.

Why: a data owner should not have to take MedUE's benchmark on trust for their own data. With
``medue protect --check``, right after the files are written, the cheapest credible attacker (a 2D
UNet, one seed, a few epochs) is trained on the protected copy and on the original under each of
the attacker's cheap countermeasures, and both are tested on held-out clean patients — the same
engine as ``medue evaluate``, reading the files from disk. One seed moves by 0.05–0.15 DSC, so the
section says so; the full picture is ``medue evaluate`` with several seeds and victims.

The result is a plain dict (recorded in the manifest, rendered by ``medue.report``). A check that
cannot run (a single image, fewer than two labelled cases) says why instead of failing the job:
the protected files are already written and valid.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from medue.errors import InputError
from medue.job.manifest import MANIFEST, record_check
from medue.job.private import default_private
from medue.job.regime import pattern_regime
from medue.methods.base import CancelToken, ProgressCallback, no_progress

CHECK_COUNTERMEASURES = ("none", "median", "gaussian", "downup", "jpeg2000_mr", "augment", "pgd")
PROTECTS_AT_OR_BELOW = 0.30  # issue 5: protected victim <= 30 % of the clean victim
CLEAN_VICTIM_FLOOR = 0.5  # below this the clean attacker learned too little to judge anything
CHECK_FOLDER = "check"


@dataclass(frozen=True)
class CheckSettings:
    """How the release is checked; recorded with the result."""

    countermeasures: tuple[str, ...] = CHECK_COUNTERMEASURES
    epochs: int = 10
    seed: int = 0
    test_fraction: float = 0.25

    def evaluation(self):
        # medue.evaluate imports medue.job: imported here, when a check runs, to avoid a cycle.
        from medue.evaluate.experiment import EvaluationSettings  # noqa: PLC0415

        return EvaluationSettings(
            victims=("unet",),
            countermeasures=self.countermeasures,
            seeds=(self.seed,),
            epochs=self.epochs,
            test_fraction=self.test_fraction,
        )


def check_release(
    original: Path,
    release: Path,
    folder: Path,
    settings: CheckSettings,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict:
    """Victims on ``release`` vs ``original``; details (results.md, curves) go to ``folder``
    (the private folder's ``check/``: the regime is read from the manifest beside it)."""
    base = {"settings": asdict(settings), "victim": "unet (2D)", "details": str(folder)}
    if not Path(original).is_dir():
        return {**base, "status": "not run", "reason": "the input is not a dataset folder"}
    from medue.evaluate.experiment import evaluate_release  # noqa: PLC0415 - see evaluation()

    try:
        results = evaluate_release(
            Path(original), Path(release), folder, settings.evaluation(), None, progress, cancel
        )
    except InputError as error:
        return {**base, "status": "not run", "reason": error.problem}
    rows = [score_row(row) for row in results["rows"]]
    regime = release_regime(Path(folder).parent)
    said = verdict(rows) + (f"; regime: {regime['sentence']}" if regime else "")
    return {
        **base,
        "status": "checked",
        "test_cases": list(results["split"]["test"]),
        "rows": rows,
        "regime": regime,
        "verdict": said,
    }


def release_regime(private: Path) -> dict | None:
    """``medue.job.regime.pattern_regime`` of the manifest in the private folder ``private``
    (None without one)."""
    manifest = private / MANIFEST
    if not manifest.is_file():
        return None
    return pattern_regime(json.loads(manifest.read_text()).get("cases", []))


def check_written_release(
    original: Path,
    output: Path,
    settings: CheckSettings,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    private: Path | None = None,
) -> dict:
    """Check the release ``protect_dataset`` wrote from ``original`` into ``output``, and record
    the section in its manifest (``checked_against``) and report, in its private folder
    ``private`` (default ``OUT.private``); details go to ``check/`` there. Returns the section.
    A cancel (``Cancelled``) leaves the release and its record as the job wrote them: complete,
    unchecked."""
    output = Path(output).absolute()
    private = Path(private).absolute() if private is not None else default_private(output)
    folder = private / CHECK_FOLDER
    section = check_release(Path(original).absolute(), output, folder, settings, progress, cancel)
    record_check(private, section)
    return section


ATTACKERS = {  # row key prefix -> how a report names the attacker
    "release_only": "the attacker with only the release",
    "": "the attacker who early-stops on clean data",
}


def verdict(rows: list[dict]) -> str:
    """One sentence a data owner can act on, about both attackers."""
    clean = next((r["clean_dsc"] for r in rows if r["countermeasure"] == "none"), None)
    if clean is not None and clean < CLEAN_VICTIM_FLOOR:
        return (
            f"inconclusive: the clean victim reaches only DSC {clean:.2f} on the held-out cases, "
            "too little to tell protection from a task it cannot learn here; train it longer "
            "(--check-epochs 10 or more) or check on more cases"
        )
    beaten = []
    for prefix, attacker in ATTACKERS.items():
        key = f"{prefix}_ratio" if prefix else "ratio"
        lost = [r["countermeasure"] for r in rows if not r.get(key, 1.0) <= PROTECTS_AT_OR_BELOW]
        if lost:
            beaten.append(f"{attacker} under {', '.join(lost)}")
    if not beaten:
        return (
            f"protected: against both attackers the victim stays at or below "
            f"{PROTECTS_AT_OR_BELOW:.0%} of clean"
        )
    return (
        f"not protected: the victim keeps more than {PROTECTS_AT_OR_BELOW:.0%} of its clean DSC "
        f"for {'; and for '.join(beaten)}"
    )


def score_row(row: dict) -> dict:
    """An evaluation row (``medue.evaluate.tables.Row.as_dict``) as reports show it: both
    attackers' clean and protected DSC and their ratio (``release_only_*`` and plain)."""
    return {
        "countermeasure": row["countermeasure"],
        "release_only_clean_dsc": row["clean_release_only"][0],
        "release_only_protected_dsc": row["protected_release_only"][0],
        "release_only_ratio": row["ratio_release_only"],
        "clean_dsc": row["clean_best"][0],
        "protected_dsc": row["protected_best"][0],
        "ratio": row["ratio"],
    }


def reference_entry(result: dict) -> dict:
    """One release's UNet scores under every countermeasure (an evaluation's ``results.json``),
    as ``medue/benchmark_reference.json`` stores them for reports to quote."""
    rows = [row for row in result["rows"] if row["victim"] == "unet"]
    return {
        "victim": "unet (2D)",
        "seeds": min(row["seeds"] for row in rows),
        "psnr_db_mean": result["imperceptibility"]["psnr_db_mean"],
        "rows": [score_row(row) for row in rows],
    }
