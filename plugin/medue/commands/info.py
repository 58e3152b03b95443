"""Describe an image or every case of a dataset folder.

Prints, per image: format, modality, size, spacing, dtype, intensity range, and the label summary
(classes, ROI voxels). Bad files are listed at the end; the others are still described.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medue.batch import run_over_cases
from medue.commands import report_failures
from medue.datasets import Case, discover_cases, load_case
from medue.errors import InputError
from medue.io import looks_like_dicom_folder, strip_extension
from medue.summary import summarise


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="image file, DICOM series folder or dataset folder")
    parser.add_argument("--label", type=Path, help="label map for a single image")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    cases = cases_for(args.path, args.label)
    summaries, failures = run_over_cases(
        cases, lambda case: summarise(load_case(case)), "reading", show_progress=len(cases) > 1
    )
    if args.json:
        failed = [{"source": f.source, "problem": f.problem} for f in failures]
        print(json.dumps({"cases": [s.as_dict() for s in summaries], "failed": failed}, indent=2))
    else:
        for summary in summaries:
            print(summary.as_line())
    return report_failures(failures, len(cases))


def cases_for(path: Path, label: Path | None = None) -> list[Case]:
    """The cases a path names: one image, one DICOM series, or a dataset folder's cases."""
    if not path.exists():
        raise InputError(path, "path does not exist")
    if path.is_file() or looks_like_dicom_folder(path):
        return [Case(strip_extension(path) if path.is_file() else path.name, path, label)]
    cases = discover_cases(path)
    if not cases:
        raise InputError(
            path, "no images found (expected NIfTI/NRRD files or DICOM series folders)"
        )
    return cases
