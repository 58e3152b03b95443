"""Fit a protection method on a dataset and save it, for ``medue protect --generator``.

UMed, EMN and SALM save their trained networks (``.pt``); the fixed patterns and baselines save
their parameters and key (JSON), so every release made with it carries the same pattern. The fit
reads a sample of the dataset (``--fit-cases``, ``medue.job.sample``), named when it is done.
With ``--nproc N`` (or under torchrun) UMed trains data-parallel on N processes
(``medue.distributed``); rank 0 alone saves the generator, in the single-process format."""

from __future__ import annotations

import argparse
from pathlib import Path

from medue.commands import report_failures
from medue.commands.options import add_protection_arguments, cases_from_args, settings_from_args
from medue.commands.progress import PhaseBars, fit_line
from medue.methods import DATA_PARALLEL_METHODS, JSON_METHODS


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="dataset folder, image file or DICOM series")
    parser.add_argument("generator", type=Path, help="output: .pt or .json (patterns)")
    add_protection_arguments(parser)
    parser.add_argument(
        "--nproc", type=int, default=1,
        help="run on N local processes (torchrun; see docs/SCALE.md); default 1",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    cases = cases_from_args(args, settings)
    from medue import distributed  # noqa: PLC0415 (torch and MONAI load once the fit runs)
    from medue.job.run import fit_prepared, prepare_dataset  # noqa: PLC0415

    ranks = distributed.ranks()
    bars = PhaseBars(enabled=not args.no_progress and ranks.main)
    try:
        dataset = prepare_dataset(cases, settings, progress=bars)
        if ranks.main or settings.method in DATA_PARALLEL_METHODS:
            perturber = fit_prepared(dataset, settings, bars)
    finally:
        bars.close()
    distributed.barrier()
    if not ranks.main:
        return 0  # rank 0 alone saves the generator and reports
    path = perturber.save(args.generator)
    kind = "pattern" if perturber.method in JSON_METHODS else "generator"
    print(f"saved {perturber.method} {kind} ({dataset.mode}) to {path}")
    if line := fit_line(perturber.describe().get("history") or {}):
        print(line)
    if dataset.sample_ids:
        print(f"fitted on {len(dataset.sample_ids)} of {len(dataset.cases)} cases: "
              f"{', '.join(dataset.sample_ids)}")  # fmt: skip
    return report_failures(dataset.failures, len(cases))
