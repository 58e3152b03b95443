#!/usr/bin/env python3
"""Apply throughput of a trained UMed generator on 256x256 slices, and its load time.

Usage: ``python benchmarks/throughput.py GENERATOR.pt [--repeats 3]``

Perturbs every slice of the sample case brain1 (256 x 256 x 25, real MR) with the generator,
timing only the method's ``perturb`` (the generator pass over the ROI box, all slices with ROI)
and, separately, the whole protect of that case (prepare + perturb + round + write + reload +
metrics). Prints slices per second for both.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from medue.budget import BudgetRequest
from medue.datasets import discover_cases, load_case
from medue.job.apply import protect_case
from medue.methods import load_perturber
from medue.prepare import RoiSpec, prepare_case

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data/build/pyradiomics"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("generator", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    started = time.perf_counter()
    perturber = load_perturber(args.generator)
    print(f"generator load: {time.perf_counter() - started:.3f} s")
    case = next(c for c in discover_cases(SAMPLE) if c.image_id == "brain1")
    loaded = load_case(case)
    prepared = prepare_case(loaded, RoiSpec(), BudgetRequest(), class_values=(1,))
    slices = prepared.image.shape[0]
    # whole-image mode: make every slice's full 256x256 plane perturbable, as a tissue ROI would
    prepared.interior[:] = True
    prepared.band[:] = False
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        perturber.perturb(prepared)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    print(f"perturb: {slices} full 256x256 slices in {best:.2f} s = {slices / best:.1f} slices/s")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        protect_case(loaded, prepared, perturber, Path(tmp) / "brain1.nii.gz", "benchmark")
        total = time.perf_counter() - started
    print(f"protect_case (perturb+round+write+reload+metrics): {slices / total:.1f} slices/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
