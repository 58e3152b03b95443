"""Fit a protection method on a dataset and save it, for ``medue protect --generator``.

UMed, EMN and SALM save their trained networks (``.pt``); the fixed patterns and baselines save
their parameters and key (JSON), so every release made with it carries the same pattern. The fit
reads a sample of the dataset (``--fit-cases``, ``medue.job.sample``), named when it is done."""

from __future__ import annotations

import argparse
from pathlib import Path

from medue.commands import report_failures
from medue.commands.options import add_protection_arguments, cases_from_args, settings_from_args
from medue.commands.progress import PhaseBars
from medue.job.run import fit_prepared, prepare_dataset
from medue.methods import JSON_METHODS

HELP = "fit a method on a dataset and save it (a generator, or a pattern's key)"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="dataset folder, image file or DICOM series")
    parser.add_argument("generator", type=Path, help="output: .pt or .json (patterns)")
    add_protection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    cases = cases_from_args(args, settings)
    bars = PhaseBars(enabled=not args.no_progress)
    try:
        dataset = prepare_dataset(cases, settings, progress=bars)
        perturber = fit_prepared(dataset, settings, bars)
    finally:
        bars.close()
    path = perturber.save(args.generator)
    kind = "pattern" if perturber.method in JSON_METHODS else "generator"
    print(f"saved {perturber.method} {kind} ({dataset.mode}) to {path}")
    if dataset.sample_ids:
        print(f"fitted on {len(dataset.sample_ids)} of {len(dataset.cases)} cases: "
              f"{', '.join(dataset.sample_ids)}")  # fmt: skip
    return report_failures(dataset.failures, len(cases))
