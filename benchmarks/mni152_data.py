#!/usr/bin/env python3
"""Build the 2D brain-tissue benchmark from the MNI152 template that ships in the nilearn wheel.

Usage: ``python benchmarks/mni152_data.py --out DIR [--resolution 1]``

Why this dataset: the ICBM152 2009 template is an average of 152 real T1 scans, and nilearn carries
it with grey- and white-matter probability maps on the same grid, so a real segmentation task
exists offline with no download. A clean victim reaches high Dice on it, which is what a
protection benchmark needs: a large clean-vs-protected gap is only visible from a high start.

Output (MONAI Label datastore layout, read by ``medue.evaluate.slices.load_slices``):

* ``DIR/train/slice_<z>.nii.gz`` and ``DIR/test/slice_<z>.nii.gz``: 2D uint8 axial T1 slices,
  the template scaled linearly from its own range to 0..255;
* ``DIR/{train,test}/labels/final/slice_<z>.nii.gz``: uint8 labels, 0 background, 1 grey matter,
  2 white matter (the likelier tissue where its probability is >= 0.5);
* ``DIR/.built``: the stamp; a rerun with the same version and resolution does nothing.

Slices hold >= 1000 mm^2 of tissue (1000 voxels at 1 mm) and are cropped to one common box around
all tissue (+4 voxels) rounded up to a multiple of 16. The split is by contiguous blocks of 8
slices, every 4th block to test, so a test slice's nearest train slices are mostly >= 1 block away
rather than its immediate (nearly identical) neighbours.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy modules are imported only when a build is needed
    import numpy as np

BUILD_VERSION = "mni152-tissue-2d/v1"
MIN_TISSUE_MM2 = 1000.0
MARGIN = 4
MULTIPLE = 16
BLOCK = 8
TEST_EVERY = 4
THRESHOLD = 0.5
LOG_PREFIX = "[mni152]"


def log(message: str) -> None:
    print(f"{LOG_PREFIX} {message}", flush=True)


def stamp_text(resolution: int) -> str:
    return f"{BUILD_VERSION} resolution={resolution}\n"


def load_template(resolution: int) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], np.ndarray]:
    """T1 (uint8), labels and (x, y, z) spacing, all as nibabel gives them: axes (x, y, z) in RAS.

    nilearn's MNI152 arrays are indexed (x, y, z) with a diagonal RAS affine (x to the right,
    y anterior, z superior), so an axial slice is ``array[:, :, z]``.
    """
    import numpy as np
    from nilearn import datasets

    t1_img = datasets.load_mni152_template(resolution=resolution)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=resolution).get_fdata())
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=resolution).get_fdata())
    affine = t1_img.affine
    if not np.allclose(affine[:3, :3], np.diag(np.diag(affine[:3, :3]))) or np.any(
        np.diag(affine[:3, :3]) <= 0
    ):
        raise RuntimeError(f"unexpected MNI152 orientation (affine {affine.tolist()})")
    t1 = np.asarray(t1_img.get_fdata())
    low, high = float(t1.min()), float(t1.max())
    t1_u8 = np.round((t1 - low) / (high - low) * 255.0).clip(0, 255).astype(np.uint8)
    spacing = tuple(float(s) for s in np.diag(affine[:3, :3]))
    return t1_u8, tissue_labels(gm, wm), spacing, affine


def tissue_labels(gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """0/1/2 = background/GM/WM: the likelier tissue, where its probability is >= 0.5."""
    import numpy as np

    label = np.where(gm >= wm, 1, 2).astype(np.uint8)
    label[np.maximum(gm, wm) < THRESHOLD] = 0
    return label


def padded_box(low: int, high: int, size: int) -> tuple[int, int]:
    """[start, stop) around [low, high) plus the margin, widened (centred) to a multiple of 16.

    The box may extend past the array; those voxels are padded with background (0).
    """
    start, stop = low - MARGIN, high + MARGIN
    extent = -(-(stop - start) // MULTIPLE) * MULTIPLE
    start -= (extent - (stop - start)) // 2
    return start, start + extent


def crop(plane: np.ndarray, box: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """``plane[box]`` with zero padding where the box leaves the array."""
    import numpy as np

    pads = [(max(0, -a), max(0, b - n)) for (a, b), n in zip(box, plane.shape, strict=True)]
    padded = np.pad(plane, pads)
    return padded[tuple(slice(a + p[0], b + p[0]) for (a, b), p in zip(box, pads, strict=True))]


def write_slice(
    array_yx: np.ndarray, path: Path, spacing: tuple[float, float], origin_ras: np.ndarray
) -> None:
    """Write a 2D uint8 slice with its in-plane geometry, atomically (temp name, then replace).

    ITK works in LPS, so the RAS x/y axes become direction -1/-1 and the origin flips sign.
    """
    import SimpleITK as sitk

    from medue.io.atomic import atomic_path

    image = sitk.GetImageFromArray(array_yx)
    image.SetSpacing(spacing)
    image.SetOrigin((-float(origin_ras[0]), -float(origin_ras[1])))
    image.SetDirection((-1.0, 0.0, 0.0, -1.0))
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def build(out: Path, resolution: int) -> tuple[int, int, tuple[int, int]]:
    """Write the train/test slices; returns (train count, test count, (height, width))."""
    import numpy as np

    t1, label, spacing, affine = load_template(resolution)
    min_voxels = MIN_TISSUE_MM2 / (spacing[0] * spacing[1])
    tissue_per_z = (label > 0).sum(axis=(0, 1))
    kept = [int(z) for z in np.flatnonzero(tissue_per_z >= min_voxels)]
    xs, ys = np.nonzero((label[:, :, kept] > 0).any(axis=2))
    box_x = padded_box(int(xs.min()), int(xs.max()) + 1, t1.shape[0])
    box_y = padded_box(int(ys.min()), int(ys.max()) + 1, t1.shape[1])
    origin = affine[:3, :3] @ np.array([box_x[0], box_y[0], 0.0]) + affine[:3, 3]
    counts = {"train": 0, "test": 0}
    for position, z in enumerate(kept):
        split = "test" if (position // BLOCK) % TEST_EVERY == TEST_EVERY - 1 else "train"
        for source, folder in ((t1, out / split), (label, out / split / "labels" / "final")):
            plane = crop(source[:, :, z], (box_x, box_y)).T  # (y, x), as SimpleITK expects
            write_slice(np.ascontiguousarray(plane), folder / f"slice_{z:03d}.nii.gz",
                        spacing[:2], origin)  # fmt: skip
        counts[split] += 1
    return counts["train"], counts["test"], (box_y[1] - box_y[0], box_x[1] - box_x[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--resolution", type=int, default=1, choices=(1, 2), help="mm per voxel")
    args = parser.parse_args(argv)
    stamp = args.out / ".built"
    if stamp.is_file() and stamp.read_text() == stamp_text(args.resolution):
        log(f"{args.out} up to date ({stamp_text(args.resolution).strip()})")
        return 0
    stamp.unlink(missing_ok=True)
    for split in ("train", "test"):  # a previous build at another resolution has other slices
        shutil.rmtree(args.out / split, ignore_errors=True)
    train, test, (height, width) = build(args.out, args.resolution)
    stamp.write_text(stamp_text(args.resolution))
    log(f"{train} train / {test} test slices of {height}x{width} at {args.resolution} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
