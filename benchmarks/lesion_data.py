#!/usr/bin/env python3
"""Build the lesion benchmark from the five pyradiomics sample cases: each lesion split in z.

Usage: ``python benchmarks/lesion_data.py --out DIR``

Why not split by patient: the sample holds five patients of three modalities (brain MR, breast MR,
lung CT). Trained on three of them, a victim has nothing to generalise from — clean best DSC was
0.036 — so no protection can show. Here every lesion contributes to both sides: its upper slices
(and two slices of context above) go to ``train``, its lower slices (and two below) to ``test``.
The test slices are new views of lesions the victim has seen, the way a hospital's follow-up scans
are new views of known patients. The protocol is kinder to the attacker than a by-patient split,
which is the right direction for a protection benchmark.

Each case is cropped in-plane to at most ``CROP`` x ``CROP`` voxels holding the whole lesion,
shifted off-centre by a fixed per-case offset so the lesion's position is not a label by itself;
the crop keeps the victims fast on two cores (the lung CTs are 512 x 512).

Output (MONAI Label datastore layout, same ids on both sides):
``DIR/{train,test}/<case>.nii.gz`` (int16, geometry kept by SimpleITK's slicing),
``DIR/{train,test}/labels/final/<case>.nii.gz`` and the stamp ``DIR/.built``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

BUILD_VERSION = "pyradiomics-lesion-zsplit/v1"
CROP = 128
CONTEXT = 2  # lesion-free slices kept beyond each end of the lesion
OFFSETS = ((-20, 16), (12, -24), (0, 0), (24, 8), (-8, -16))  # (y, x) per case, in sorted order
ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sample_data" / "build" / "pyradiomics"


def log(message: str) -> None:
    print(f"[lesion] {message}", flush=True)


def crop_start(low: int, high: int, size: int, offset: int) -> tuple[int, int]:
    """[start, stop) of at most CROP voxels holding [low, high], centred then shifted by offset."""
    extent = min(CROP, size)
    start = (low + high + 1) // 2 - extent // 2 + offset
    start = min(max(start, high + 1 - extent, 0), low, size - extent)
    return start, start + extent


def split_case(image_path: Path, label_path: Path, offset: tuple[int, int], out: Path) -> str:
    """Write the case's train (upper lesion half) and test (lower half) sub-volumes."""
    import numpy as np
    import SimpleITK as sitk

    from medue.io.atomic import atomic_path

    image, label = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(label_path))
    mask = sitk.GetArrayFromImage(label) > 0  # (z, y, x)
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    ys, xs = np.nonzero(mask.any(axis=0))
    y0, y1 = crop_start(int(ys.min()), int(ys.max()), mask.shape[1], offset[0])
    x0, x1 = crop_start(int(xs.min()), int(xs.max()), mask.shape[2], offset[1])
    middle = int(zs[0]) + (len(zs) + 1) // 2  # the upper half gets the odd slice
    ranges = {
        "train": (max(0, int(zs[0]) - CONTEXT), middle),
        "test": (middle, min(mask.shape[0], int(zs[-1]) + 1 + CONTEXT)),
    }
    name = image_path.name
    for split, (z0, z1) in ranges.items():
        for source, folder in ((image, out / split), (label, out / split / "labels" / "final")):
            with atomic_path(folder / name) as tmp:
                sitk.WriteImage(source[x0:x1, y0:y1, z0:z1], str(tmp), useCompression=True)
    return f"{name}: {y1 - y0}x{x1 - x0}, train z {ranges['train']}, test z {ranges['test']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    stamp = args.out / ".built"
    if stamp.is_file() and stamp.read_text() == BUILD_VERSION + "\n":
        log(f"{args.out} up to date ({BUILD_VERSION})")
        return 0
    subprocess.run([sys.executable, str(ROOT / "sample_data" / "build.py")], check=True)
    stamp.unlink(missing_ok=True)
    for split in ("train", "test"):
        shutil.rmtree(args.out / split, ignore_errors=True)
    images = sorted(SOURCE.glob("*.nii.gz"))
    for image_path, offset in zip(images, OFFSETS, strict=True):
        log(split_case(image_path, SOURCE / "labels" / "final" / image_path.name, offset, args.out))
    stamp.write_text(BUILD_VERSION + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
