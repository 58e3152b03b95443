"""How fit and apply costs grow with the number of volumes, voxels and processes (torchrun).

Builds datasets of N cases from the small sample NIfTI cases (``sample_data/build/pyradiomics``,
built by ``sample_data/build.py``): case i is ``CASES[i mod 3]`` under the name ``<case>_<i>``,
hard-linked (copied where links are refused). For each N and each process count P it runs the
real CLI in a subprocess with one thread per process (``OMP_NUM_THREADS=1``):

- apply: ``medue protect DATA OUT --no-progress --nproc P`` (default method ``pattern-blocks``,
  which fits nothing: the job is scan + sharded apply). From the manifest: each case's
  ``seconds`` (read, prepare, perturb, write, verify, figure), summed per rank over that rank's
  shard ``cases[rank::P]`` (``medue.distributed``); the apply span is the slowest rank's sum;
- fit: ``medue fit DATA G.pt --method umed --iterations I --nproc P`` (each rank trains on its
  shard with a batch of 8/P, DDP averages the gradients); the fit's own ``seconds`` from the
  saved generator's history, and the process's wall time.

Prints a table and writes ``benchmarks/results/scale.json``; docs/BENCHMARKS.md §11 and
docs/SCALE.md quote it.

    PYTHONPATH=plugin python benchmarks/scale.py --counts 6 12 --nproc 1 2 --iterations 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import build as copies_of_sample  # benchmarks/ is this script's folder, on sys.path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "build" / "pyradiomics"
CASES = ("brain1", "brain2", "breast1")  # the three small sample volumes (lungs: see SCALE.md)
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"


def build(folder: Path, count: int) -> Path:
    """``count`` cases in MONAI Label's datastore layout: ``CASES[i mod 3]`` as ``<case>_<i>``
    (``benchmarks/memory.py``'s builder, over the three small volumes)."""
    return copies_of_sample(folder, count, cases=CASES, digits=1)


def voxels(folder: Path) -> int:
    """Total voxels of the dataset's images (from their headers)."""
    import nibabel  # noqa: PLC0415 - only needed here

    total = 0
    for path in folder.glob("*.nii.gz"):
        shape = nibabel.load(path).shape
        total += int(shape[0] * shape[1] * (shape[2] if len(shape) > 2 else 1))
    return total


def medue(*args: str) -> float:
    """Run the CLI; returns its wall time in seconds (raises on failure)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    command = [sys.executable, "-m", "medue.cli", *args, "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def measure_apply(data: Path, out: Path, nproc: int) -> dict:
    wall = medue("protect", str(data), str(out), "--nproc", str(nproc))
    cases = json.loads((Path(f"{out}.private") / "manifest.json").read_text())["cases"]
    per_rank = [sum(c["seconds"] for c in cases[rank::nproc]) for rank in range(nproc)]
    return {"wall_s": round(wall, 1), "apply_work_s": round(sum(per_rank), 1),
            "apply_span_s": round(max(per_rank), 1), "protected": len(cases)}  # fmt: skip


def measure_fit(data: Path, generator: Path, nproc: int, iterations: int) -> dict:
    wall = medue("fit", str(data), str(generator), "--method", "umed",
                 "--iterations", str(iterations), "--nproc", str(nproc))  # fmt: skip
    import torch  # noqa: PLC0415 - only needed here

    history = torch.load(generator, map_location="cpu", weights_only=True)["history"]
    return {"wall_s": round(wall, 1), "fit_s": history["seconds"], "iterations": iterations}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[6, 12])
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, default=20, help="UMed fit steps (0: no fit)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="medue-scale-") as tmp:
        for count in args.counts:
            data = build(Path(tmp) / f"data{count}", count)
            size = voxels(data)
            for nproc in args.nproc:
                row = {"cases": count, "voxels": size, "nproc": nproc}
                row["apply"] = measure_apply(data, Path(tmp) / f"out{count}_{nproc}", nproc)
                if args.iterations:
                    generator = Path(tmp) / f"g{count}_{nproc}.pt"
                    row["fit"] = measure_fit(data, generator, nproc, args.iterations)
                rows.append(row)
                print(json.dumps(row), flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"measured": time.strftime("%Y-%m-%d"), "rows": rows},
                                       indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
