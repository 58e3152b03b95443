"""Peak memory of ``medue protect`` against the number of cases: it must not grow with the count.

Builds datasets of N cases from the five sample NIfTI cases (``sample_data/build/pyradiomics``,
built by ``sample_data/build.py``): case i is sample case ``i mod 5`` under the name
``<case>_<i>``, image and label hard-linked (copied where links are refused), in a temporary
folder. For each N it runs the real CLI in a subprocess, ``medue protect DATASET OUT
--no-progress`` (default method and preset unless ``--method`` / ``--preset``), with one thread
(``OMP_NUM_THREADS=1``), and takes the subprocess's peak resident set size from ``os.wait4``
(``ru_maxrss``, KiB on Linux: the largest RSS the process ever had). Prints a table and writes
``benchmarks/results/memory.json``; docs/BENCHMARKS.md quotes it.

    PYTHONPATH=plugin python benchmarks/memory.py --counts 10 200
    PYTHONPATH=plugin python benchmarks/memory.py --counts 10 50 --method umed \\
        --results benchmarks/results/memory_umed.json --extra --iterations 2 --fit-cases 4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "build" / "pyradiomics"
CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")
RESULTS = ROOT / "benchmarks" / "results" / "memory.json"


def build(folder: Path, count: int, cases: tuple[str, ...] = CASES, digits: int = 4) -> Path:
    """``count`` cases in MONAI Label's datastore layout: sample case ``cases[i mod len]`` (image
    and label, hard-linked where possible) as ``<case>_<i>``, ``i`` zero-padded to ``digits``."""
    labels = folder / "labels" / "final"
    labels.mkdir(parents=True)
    for index in range(count):
        case = cases[index % len(cases)]
        name = f"{case}_{index:0{digits}d}.nii.gz"
        _link(SAMPLE / f"{case}.nii.gz", folder / name)
        _link(SAMPLE / "labels" / "final" / f"{case}.nii.gz", labels / name)
    return folder


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def measure(data: Path, output: Path, extra: list[str]) -> dict:
    """Run ``medue protect`` on ``data``; its wall time, peak RSS and what it wrote."""
    command = [sys.executable, "-m", "medue.cli", "protect", str(data), str(output),
               "--no-progress", *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log = output.parent / "protect.log"
    with log.open("w") as stream:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if child.returncode != 0:
        raise SystemExit(f"medue protect failed:\n{log.read_text()}")
    manifest = json.loads((Path(f"{output}.private") / "manifest.json").read_text())
    return {
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "wall_s": round(seconds, 1),
        "protected": manifest["summary"]["protected"],
        "failed": len(manifest["failed"]),
        "fit_cases": len(manifest.get("fit_cases", [])),  # absent before the sample
        "method": manifest["settings"]["method"],
        "preset": manifest["settings"]["budget"]["preset"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--method", help="default: medue's default method")
    parser.add_argument("--preset", help="default: medue's default preset")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more arguments for medue protect (last)")  # fmt: skip
    args = parser.parse_args()
    if not (SAMPLE / "lung2.nii.gz").is_file():
        raise SystemExit("build the sample data first: python sample_data/build.py")
    extra = [*(["--method", args.method] if args.method else []),
             *(["--preset", args.preset] if args.preset else []), *args.extra]  # fmt: skip
    rows = []
    for count in args.counts:
        with tempfile.TemporaryDirectory(prefix="medue-memory-") as tmp:
            data = build(Path(tmp) / "data", count)
            row = {"cases": count, **measure(data, Path(tmp) / "out", extra)}
        rows.append(row)
        print(f"{count:>6} cases: peak RSS {row['peak_rss_mib']:8.1f} MiB, "
              f"{row['wall_s']:7.1f} s, {row['protected']} protected, "
              f"fitted on {row['fit_cases']}", flush=True)  # fmt: skip
    print("\n| cases | peak RSS (MiB) | wall (s) | protected | fit cases |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['cases']} | {row['peak_rss_mib']} | {row['wall_s']} | {row['protected']} "
              f"| {row['fit_cases']} |")  # fmt: skip
    args.results.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python benchmarks/memory.py", *sys.argv[1:]]),
        "rows": rows,
    }
    args.results.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten: {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
