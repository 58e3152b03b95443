"""What a reader sees of a written release: JND of each case's worst patch at 1x, 2x and 4x.

Reads the owner's manifest (``RELEASE.private/manifest.json``, or ``RELEASE/medue/manifest.json``
for releases written before the release/private split), compares every
written file with its source at the case's window on the default calibrated display
(``medue.perception.Display``: 0.21 mm pixels, 0.5-350 cd/m2 on the DICOM GSDF, 50 cm) and
prints the median and the largest JND per zoom. Releases written since the JND was added record
the same numbers in their manifests; this also scores older ones.

    python benchmarks/release_jnd.py /tmp/frontier/releases/default
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medue.intensity import Window
from medue.perception import jnd_summary


def manifest_path(release: Path) -> Path:
    """The release's full manifest: in its private folder, or inside it (older layout)."""
    private = release.with_name(release.name + ".private") / "manifest.json"
    return private if private.is_file() else release / "medue" / "manifest.json"


def release_jnd(release: Path) -> dict[str, list[float]]:
    """Per zoom ("1x", "2x", "4x"), the JND of every case of the release."""
    manifest = json.loads(manifest_path(release).read_text())
    scores: dict[str, list[float]] = {"1x": [], "2x": [], "4x": []}
    for case in manifest["cases"]:
        original = sitk.GetArrayFromImage(sitk.ReadImage(case["source"]))
        written = sitk.GetArrayFromImage(sitk.ReadImage(case["output"]))
        w = case["window"]
        seen = jnd_summary(original, written, Window(w["low"], w["high"], w["name"]))
        for zoom in scores:
            scores[zoom].append(float(seen[zoom]))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", type=Path, help="a folder medue protect wrote")
    args = parser.parse_args(argv)
    scores = release_jnd(args.release)
    for zoom, values in scores.items():
        print(f"{zoom}: median {np.median(values):.2f} JND, largest {max(values):.2f} "
              f"({len(values)} cases)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
