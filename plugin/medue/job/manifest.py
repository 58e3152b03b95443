"""The owner's record of a release: ``manifest.json`` and the HTML report drawn from it, in the
release's private folder (``medue.job.private``; the public description is ``medue.release``).

The manifest holds every parameter, the fitted method, the cases the method was fitted on, each
protected case's record with the sha256 of its input and copy, the failed and left-out inputs,
a summary, and ``checked_against``: the victim check of the written release (``medue.job.check``),
None until one has run. The report is always drawn from the manifest as written (JSON values), so
a report rewritten after a check shows exactly what the first one did, plus the check.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from medue import __version__
from medue.batch import Failure
from medue.errors import InputError
from medue.io.atomic import atomic_path
from medue.job.outputs import fingerprint, input_root
from medue.job.record import ReleaseRecord
from medue.job.settings import ProtectSettings
from medue.methods.base import Perturber
from medue.reference import benchmark_reference
from medue.report import write_html
from medue.restore.capture import archive_name

MANIFEST = "manifest.json"
REPORT = "report.html"


def build_manifest(
    input_path: Path,
    output: Path,
    private: Path,
    settings: ProtectSettings,
    perturber: Perturber | None,
    generator_path: Path | None,
    results: list,
    failures: list[Failure],
    release: ReleaseRecord,
    fit_ids: list[str],
) -> dict:
    """The manifest of a finished job; ``results`` is ``[(CaseResult, Case, figure path)]``,
    ``fit_ids`` the image ids the method was fitted on (empty when it fits on no image or was
    given fitted). Figures are named relative to the private folder ``private``."""
    cases = []
    for result, case, figure in results:
        entry = result.as_dict()
        entry["input_sha256"] = fingerprint(case.image)
        entry["output_sha256"] = release.sha256(Path(result.output))
        entry["figure"] = str(figure.relative_to(private))
        entry["restore"] = archive_name(case.image, input_root(input_path))
        cases.append(entry)
    return {
        "medue_version": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "input": str(input_path.resolve()),
        "output": str(output),
        "private": str(private),
        "settings": settings.as_dict(),
        "method": _without_key(perturber.describe()) if perturber is not None else None,
        "warnings": _warnings(perturber) + _over_ceiling(cases),
        "generator": (
            {"path": str(generator_path), "sha256": fingerprint(generator_path)}
            if generator_path is not None
            else None
        ),
        "fit_cases": list(fit_ids),
        "cases": cases,
        "failed": [
            {"source": _absolute(f.source), "problem": f.problem} for f in failures if not f.skipped
        ],
        "left_out": [
            {"source": _absolute(f.source), "why": f.problem} for f in failures if f.skipped
        ],
        "summary": summarise(cases),
    }


def _absolute(source: str) -> str:
    """A failure's file, absolute like every path of the manifest (whatever the working folder)."""
    return str(Path(source).absolute()) if source else source


def summarise(cases: list[dict]) -> dict:
    """Counts and the range of PSNR, SSIM (and of eps/sigma, ROI PSNR where every case has them).

    PSNR figures are over the images the method changed: a classification release leaves its
    reference class as it is (PSNR infinite), counted as ``unchanged`` instead."""
    if not cases:
        return {"protected": 0}
    changed = [c for c in cases if np.isfinite(c["metrics"]["psnr_db"])]
    ssim = [c["metrics"]["ssim"] for c in cases]
    seen = {
        f"{key}_{how.__name__}": float(how([c["metrics"][key] for c in pool]))
        for key, how, pool in (
            ("epsilon_over_sigma", max, cases),
            ("psnr_roi_db", min, changed),
            ("psnr_peak_db", min, changed),
            ("psnr_peak_db", np.mean, changed),
        )
        if pool and all(key in c["metrics"] for c in pool)
    }
    kept = sum(bool(c.get("kept")) for c in cases)
    if all("jnd" in c["metrics"] for c in cases):  # the most visible case, as a reader sees it
        seen |= {f"jnd_{z}_max": max(c["metrics"]["jnd"][z] for c in cases) for z in ("1x", "4x")}
    psnr = [c["metrics"]["psnr_db"] for c in changed]
    return seen | {
        "protected": len(cases),
        "unchanged": len(cases) - len(changed),
        "kept_from_earlier_run": kept,  # a resumed job: copies a killed run had written
        "written_now": len(cases) - kept,
        "psnr_db_mean": float(np.mean(psnr)) if psnr else None,
        "psnr_db_min": float(np.min(psnr)) if psnr else None,
        "ssim_mean": float(np.nanmean(ssim)),
        "ssim_min": float(np.nanmin(ssim)),
    }


def write_record(private: Path, record: dict) -> tuple[Path, Path]:
    """Write ``manifest.json`` and ``report.html`` into the private folder (atomically) from
    ``record``; returns their paths."""
    text = json.dumps(record, indent=2, default=str)
    with atomic_path(private / MANIFEST) as tmp:
        tmp.write_text(text)
    record = json.loads(text)  # the report shows what the manifest says
    settings = record["settings"]
    report = write_html(
        private / REPORT,
        f"MedUE protection report: {settings['method']}",
        {"settings": settings, "summary": record["summary"]},
        record["cases"],
        record["failed"],
        record["checked_against"],
        benchmark_reference(settings["method"], settings["budget"]["preset"]),
        left_out=record["left_out"],
    )
    return private / MANIFEST, report


def earlier_check(private: Path, record: dict) -> dict | None:
    """The ``checked_against`` of the previous manifest in ``private`` when ``record`` (a resumed
    run) rewrote nothing and lists the very files that check scored (same outputs, same sha256);
    otherwise None: a check belongs to the files it trained on."""
    path = private / MANIFEST
    if record["summary"].get("written_now", 1) or not path.is_file():
        return None
    earlier = json.loads(path.read_text())

    def files(manifest: dict) -> set[tuple[str, str]]:
        return {(c["output"], c["output_sha256"]) for c in manifest.get("cases", [])}

    same = files(earlier) == files(record) and not earlier.get("failed") and not record["failed"]
    return earlier.get("checked_against") if same else None


def record_check(private: Path, checked: dict) -> tuple[Path, Path]:
    """Add a victim check's section (``medue.job.check.check_release``) to the finished release
    whose private folder is ``private``: its manifest's ``checked_against`` and its report are
    rewritten, nothing else. Returns the manifest and report paths; raises ``InputError`` when
    ``private`` holds no manifest."""
    path = private / MANIFEST
    if not path.is_file():
        raise InputError(private, "holds no MedUE manifest (protect into it first)")
    record = json.loads(path.read_text())
    record["checked_against"] = checked
    return write_record(private, record)


def _without_key(described: dict) -> dict:
    """The fitted method's description without its key: the key lives in the private folder's
    key file (and in the perturber file that needs it), not in every record that is shown."""
    if "key" not in described:
        return described
    return {**described, "key": "not recorded here: see the key file beside this manifest"}


def _over_ceiling(cases: list[dict]) -> list[str]:
    """A warning naming the images whose smallest storable change is still over the preset's
    JND ceiling (the preset's promise does not hold for them)."""
    over = [c["image_id"] for c in cases if "smallest storable change is still" in c.get(
        "budget_rule", "")]  # fmt: skip
    if not over:
        return []
    names = ", ".join(over[:5]) + (f" and {len(over) - 5} more" if len(over) > 5 else "")
    return [
        f"{len(over)} image(s) are over the preset's JND ceiling even at one storable step "
        f"({names}): a reader may see the change there; see each case's budget rule"
    ]


def _warnings(perturber) -> list[str]:
    """What the fit itself says went wrong (e.g. SALM's noise did not converge)."""
    if perturber is None:
        return []
    warning = perturber.describe().get("history", {}).get("warning")
    return [warning] if warning else []
