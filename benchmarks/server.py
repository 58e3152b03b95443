#!/usr/bin/env python3
"""The server as a user meets it: ``/info/`` latency while a job runs, and preview time.

Usage: ``PYTHONPATH=plugin:. python benchmarks/server.py [--iterations 100] [--out FILE]``

Starts the real ``medue serve`` over a copy of the five sample cases on 127.0.0.1, then:

1. ``/info/`` latency with no job (20 calls, one every 0.2 s);
2. a UMed protect job over the whole dataset (``--iterations`` generator steps), polling
   ``/info/`` and the job's status every 0.2 s from start to end: p50 / p95 / max of each, per
   phase (the job runs in its own process; the server must keep answering);
3. previews of lung2 (512 x 512 x 61 CT, the largest sample) over HTTP
   (``POST /infer/protect_<method>?output=image``): with the UMed generator the job saved, and
   with the default pattern (nothing to fit), 3 times each; the wall time of the whole request
   (read, prepare, perturb, measure, write the float image, send it).

Writes the numbers to ``benchmarks/results/server.json`` (or ``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.server.running import Server, stop_workers  # noqa: E402 - the tests' real-server helper

SAMPLE = ROOT / "sample_data" / "build" / "pyradiomics"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100, help="UMed generator steps")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/server.json")
    parser.add_argument("--preview-only", action="store_true",
                        help="only the default preview of lung2, no UMed job")  # fmt: skip
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="medue-bench-") as scratch:
        base = Path(scratch)
        shutil.copytree(SAMPLE, base / "studies")
        server = Server(base / "studies", base / "export", base / "server.log")
        started = time.perf_counter()
        server.start()
        results = {"server_start_seconds": round(time.perf_counter() - started, 1)}
        try:
            results["info_idle"] = _stats([_timed(server, "/info/") for _ in _ticks(20)])
            methods = ("pattern-checker",) if args.preview_only else ("umed", "pattern-checker")
            if not args.preview_only:
                results["during_job"] = _during_job(server, args.iterations)
            results["preview_lung2"] = {
                method: [_preview(server, method) for _ in range(3)] for method in methods
            }
        finally:
            server.stop()
            stop_workers(server.export)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    _print(results)
    return 0


def _during_job(server: Server, iterations: int) -> dict:
    job = server.post("/protect/jobs", json={"method": "umed", "iterations": iterations}).json()
    samples: dict[str, dict[str, list[float]]] = {}
    started = time.perf_counter()
    while True:
        info = _timed(server, "/info/")
        began = time.perf_counter()
        status = server.get(f"/protect/jobs/{job['id']}").json()
        status_seconds = time.perf_counter() - began
        phase = samples.setdefault(status["phase"], {"info": [], "status": []})
        phase["info"].append(info)
        phase["status"].append(status_seconds)
        if status["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.2)
    every = {k: [s for p in samples.values() for s in p[k]] for k in ("info", "status")}
    return {
        "state": status["state"],
        "job_seconds": round(time.perf_counter() - started, 1),
        "info": _stats(every["info"]),
        "status": _stats(every["status"]),
        "by_phase": {name: _stats(p["info"]) for name, p in samples.items()},
    }


def _preview(server: Server, method: str) -> float:
    began = time.perf_counter()
    answer = server.post(f"/infer/protect_{method}", params={"image": "lung2", "output": "image"})
    seconds = time.perf_counter() - began
    if answer.status_code != 200:
        raise RuntimeError(f"preview {method}: {answer.status_code} {answer.text[:300]}")
    return round(seconds, 2)


def _timed(server: Server, path: str) -> float:
    began = time.perf_counter()
    requests.get(server.url + path, timeout=60).raise_for_status()
    return time.perf_counter() - began


def _ticks(count: int):
    for index in range(count):
        yield index
        time.sleep(0.2)


def _stats(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 3),
            "p95": round(p95, 3), "max": round(ordered[-1], 3)}  # fmt: skip


def _print(results: dict) -> None:
    print(f"server start: {results['server_start_seconds']} s")
    print(f"/info/ idle: {results['info_idle']}")
    job = results.get("during_job")
    if job is not None:
        print(f"UMed job ({job['state']}, {job['job_seconds']} s): /info/ {job['info']}; "
              f"job status {job['status']}")  # fmt: skip
        for phase, stats in job["by_phase"].items():
            print(f"  /info/ during {phase}: {stats}")
    for method, times in results["preview_lung2"].items():
        print(f"preview lung2 (512x512x61 CT) with {method}: {times} s")


if __name__ == "__main__":
    sys.exit(main())
