"""Write protected copies of a dataset (same names, format, geometry, dtype) plus a report.

Fits the method on a sample of the dataset first (``--fit-cases``), unless --generator names one
saved by ``medue fit`` (then each image takes one generator pass), then protects every case, one
at a time; ``--check`` then trains a victim on the written release (``medue.job.check``).
Output: the RELEASE in OUTPUT, safe to publish as it is (the protected images and their labels
mirrored, RELEASE.md and release.json: method family, preset, visibility over the dataset, a
commitment to the key), and the owner's PRIVATE folder (default OUTPUT.private, beside it; never
inside it): the secret key, the fitted method, manifest.json with per-image epsilon and input
sha256, report.html, figures and what `medue restore` needs. Publish OUTPUT; keep PRIVATE.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from medue.commands import report_failures
from medue.commands.options import add_protection_arguments, cases_from_args, settings_from_args
from medue.commands.progress import PhaseBars, fit_line
from medue.errors import InputError
from medue.job.check import CHECK_COUNTERMEASURES, CheckSettings, check_written_release


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="dataset folder, image file or DICOM series")
    parser.add_argument("output", type=Path, help="output folder (outside the input)")
    parser.add_argument(
        "--private", type=Path, metavar="DIR",
        help="the owner's private folder (key, manifest, report, restoration data); default "
        "OUTPUT.private beside the release, never inside it; created owner-only (0700)",
    )  # fmt: skip
    parser.add_argument(
        "--key-file", type=Path, metavar="PATH",
        help="reuse this secret key (e.g. to protect new cases of a dataset consistently, or to "
        "reproduce a release byte for byte): copy the `key` file from an earlier run's private "
        "folder; default: a new 32-byte key from the operating system's random source",
    )  # fmt: skip
    parser.add_argument("--generator", type=Path, help="saved generator from `medue fit`")
    parser.add_argument(
        "--check", action="store_true",
        help="then train a victim on the release under the attacker's countermeasures "
        f"({', '.join(CHECK_COUNTERMEASURES)}) and report what it scored",
    )  # fmt: skip
    parser.add_argument("--check-epochs", type=int, default=10, help="victim epochs (default 10)")
    parser.add_argument(
        "--nproc", type=int, default=1,
        help="run on N local processes (torchrun; see docs/SCALE.md); default 1",
    )  # fmt: skip
    add_protection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.check:
        if args.check_epochs < 1:
            raise InputError(None, "--check-epochs must be at least 1")
        settings = replace(settings, check=CheckSettings(epochs=args.check_epochs))
    perturber = _saved_method(args.generator) if args.generator else None
    if perturber is not None:
        settings = replace(settings, method=perturber.method)  # the saved method is what runs
    if settings.check is not None and settings.classification:
        raise InputError(None, "--check trains segmentation victims; for SALM use medue evaluate")
    cases = cases_from_args(args, settings)
    from medue import distributed  # noqa: PLC0415 (torch and MONAI load once the job runs)
    from medue.job import protect_dataset  # noqa: PLC0415

    main = distributed.ranks().main
    bars = PhaseBars(enabled=not args.no_progress and main)
    checked = None
    try:
        outcome = protect_dataset(args.input, cases, args.output, settings, perturber, bars,
                                  private=args.private, key_file=args.key_file)  # fmt: skip
        if settings.check is not None and outcome.results and main:  # the release is complete
            checked = check_written_release(args.input, outcome.output, settings.check, bars,
                                            private=outcome.private)  # fmt: skip
    finally:
        bars.close()
    if not main:
        return 0  # rank 0 reports the whole job (and its exit code)
    if outcome.results:
        print(_summary_line(outcome))
    record = json.loads(outcome.manifest.read_text())
    if perturber is None and (line := fit_line((record.get("method") or {}).get("history", {}))):
        print(line)  # this run's fit (a --generator's was reported by ``medue fit``)
    for warning in record.get("warnings", []):
        print(f"medue: warning: {warning}", file=sys.stderr)
    if checked is not None:
        print(_check_lines(checked))
    print(f"{_publish_line(outcome, len(cases))}\n"
          f"private (keep this, owner-only; the key restores the originals): {outcome.private}\n"
          f"report: {outcome.report}\nmanifest: {outcome.manifest}")  # fmt: skip
    return report_failures(outcome.failures, len(cases))


def _publish_line(outcome, inputs: int) -> str:
    """Whether OUT can be published: only when every input was protected."""
    if not outcome.results:
        return f"nothing was protected: {outcome.output} is not a release (do not publish it)"
    failed = [f for f in outcome.failures if not getattr(f, "skipped", False)]
    if failed:
        return (f"release INCOMPLETE ({len(failed)} of {inputs} inputs failed, listed below; "
                f"publish only once they are fixed or left out): {outcome.output}")  # fmt: skip
    return f"release (publish this): {outcome.output}"


def _saved_method(path: Path):
    """The method ``medue fit`` saved at ``path`` (its loading imports torch and MONAI)."""
    if not path.is_file():
        raise InputError(path, "generator file does not exist")
    from medue.methods import load_perturber  # noqa: PLC0415

    return load_perturber(path)


def _summary_line(outcome) -> str:
    psnr = [r.metrics.get("psnr_peak_db", r.metrics["psnr_db"]) for r in outcome.results]
    peak = " (8-bit, peak 255)" if all("psnr_peak_db" in r.metrics for r in outcome.results) else ""
    worst = max(r.metrics["max_abs_change"] for r in outcome.results)
    kept = sum(r.kept for r in outcome.results)
    resumed = (
        f" ({kept} kept as an earlier run wrote them, {len(outcome.results) - kept} written now)"
        if kept
        else ""
    )
    return (
        f"protected {len(outcome.results)} images into {outcome.output}{resumed}: "
        f"PSNR {min(psnr):.1f}-{max(psnr):.1f} dB{peak}, max change {worst:g} (native units)"
        f"{_seen_text(outcome.results)}"
    )


def _seen_text(results) -> str:
    """The most visible case as a reader sees it (JND of its worst patch at 1x and 4x zoom)."""
    measured = [r for r in results if "jnd" in r.metrics]
    if not measured:
        return ""
    worst = max(measured, key=lambda r: r.metrics["jnd"]["1x"])
    seen = worst.metrics["jnd"]
    verdict = "seen" if seen["1x"] >= 1 else "not seen"
    return (f"; most visible: {worst.image_id}, {seen['1x']:.2f} JND at 1x at {seen['window']} "
            f"({verdict} there at 1x), {seen['4x']:.2f} at 4x zoom; other windows and zooms "
            "in the report")  # fmt: skip


def _check_lines(checked: dict) -> str:
    if checked["status"] != "checked":
        return f"check: not run ({checked['reason']})"
    release_only = ", ".join(
        f"{r['countermeasure']} {r['release_only_ratio']:.0%}" for r in checked["rows"]
    )
    clean_stop = ", ".join(f"{r['countermeasure']} {r['ratio']:.0%}" for r in checked["rows"])
    return (
        f"check, protected/clean victim DSC, attacker with only the release: {release_only}\n"
        f"check, protected/clean victim DSC, attacker who early-stops on clean data: "
        f"{clean_stop}\ncheck verdict: {checked['verdict']}"
    )
