#!/usr/bin/env python3
"""Build the cortical-lobe benchmark: Harvard-Oxford lobes on the MNI152 T1, in 2D axial slices.

Usage: ``python benchmarks/atlas_data.py --out DIR [--check [--threads 1]]``

Why this dataset: on ``mni152_data.py`` the target (grey vs white matter) is nearly an intensity
threshold. Here the cortex of one lobe looks like the cortex of the next, and the limbic cortex
(background here) like both: which class a voxel belongs to follows from its position and the
shape of the brain around it, not from its grey level. Both sources ship inside the nimare 0.22.1
wheel (``nimare/resources``, no download): the FSL MNI152 (NLin6Asym) 2 mm T1, int16 with no
scaling, kept as stored, and the Harvard-Oxford cortical atlas (max-probability, thr25, 2 mm, 48
labels, stored LAS; after ``nibabel.as_closest_canonical`` its grid is the T1's). The labels stay
on their native 2 mm grid: at 1 mm they would be nearest-neighbour blocks, and every victim
epoch would cost 8x (twice the slices, four times the voxels).

Labels: the 48 atlas labels merged by :data:`HARVARD_OXFORD` into 1 frontal, 2 parietal,
3 temporal, 4 occipital; background (0) is everything else, the limbic cortex (insula, cingulate,
parahippocampal gyrus) included. A fifth, limbic class was tried: small and scattered, it was
still unlearnt by a SegResNet after 60 epochs (clean best 0.67 at seed 0). With four classes a
victim that has not yet found one of them (SegResNet finds the temporal lobe last, after 40-65
epochs at some seeds) still scores about 3/4 of 0.86.

Cases are 2D (one axial slice a file, like ``mni152_data.py``): the victims are 2D, and a protect
job picks 3D mode for near-isotropic volumes (``medue.job.scan.choose_mode``), so sub-volumes of
this 2 mm isotropic grid would be protected in 3D against a 2D victim. Slices hold >= 1000 mm^2 of
lobe and are cropped to one box around all lobes (+2 voxels) rounded up to a multiple of 16. The
split is by contiguous blocks of 4 slices (8 mm, the physical block of ``mni152_data.py``), every
4th block to test. ``--check`` trains clean 2D victims on train and scores them on test as
``medue.evaluate`` does (best epoch of the pooled Dice over the foreground classes).

Output (MONAI Label datastore layout): ``DIR/{train,test}/slice_<z>.nii.gz`` (int16, native T1
values), ``DIR/{train,test}/labels/final/slice_<z>.nii.gz`` (uint8) and the stamp ``DIR/.built``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy modules are imported only when a build is needed
    import numpy as np

BUILD_VERSION = "harvard-oxford-lobes-2d/v1"
T1_FILE = "templates/tpl-MNI152NLin6Asym_res-02_T1w.nii.gz"
ATLAS_FILE = "atlases/HarvardOxford-cort-maxprob-thr25-2mm.nii.gz"
CLASSES = ("frontal", "parietal", "temporal", "occipital")  # label values 1..4; limbic -> 0
MIN_CORTEX_MM2 = 1000.0
MARGIN = 2
MULTIPLE = 16
BLOCK = 4
TEST_EVERY = 4
EPOCHS = 50  # what a benchmark Plan should give this dataset: see --check
CHECK_VICTIMS = ("unet", "segresnet")
CHECK_SEEDS = (0, 1, 2)
LOG_PREFIX = "[atlas]"

# Harvard-Oxford cortical labels 1..48 (FSL's HarvardOxford-Cortical.xml order) and their lobe.
HARVARD_OXFORD = (
    ("Frontal Pole", "frontal"),
    ("Insular Cortex", "limbic"),
    ("Superior Frontal Gyrus", "frontal"),
    ("Middle Frontal Gyrus", "frontal"),
    ("Inferior Frontal Gyrus, pars triangularis", "frontal"),
    ("Inferior Frontal Gyrus, pars opercularis", "frontal"),
    ("Precentral Gyrus", "frontal"),
    ("Temporal Pole", "temporal"),
    ("Superior Temporal Gyrus, anterior division", "temporal"),
    ("Superior Temporal Gyrus, posterior division", "temporal"),
    ("Middle Temporal Gyrus, anterior division", "temporal"),
    ("Middle Temporal Gyrus, posterior division", "temporal"),
    ("Middle Temporal Gyrus, temporooccipital part", "temporal"),
    ("Inferior Temporal Gyrus, anterior division", "temporal"),
    ("Inferior Temporal Gyrus, posterior division", "temporal"),
    ("Inferior Temporal Gyrus, temporooccipital part", "temporal"),
    ("Postcentral Gyrus", "parietal"),
    ("Superior Parietal Lobule", "parietal"),
    ("Supramarginal Gyrus, anterior division", "parietal"),
    ("Supramarginal Gyrus, posterior division", "parietal"),
    ("Angular Gyrus", "parietal"),
    ("Lateral Occipital Cortex, superior division", "occipital"),
    ("Lateral Occipital Cortex, inferior division", "occipital"),
    ("Intracalcarine Cortex", "occipital"),
    ("Frontal Medial Cortex", "frontal"),
    ("Juxtapositional Lobule Cortex (formerly Supplementary Motor Cortex)", "frontal"),
    ("Subcallosal Cortex", "frontal"),
    ("Paracingulate Gyrus", "frontal"),
    ("Cingulate Gyrus, anterior division", "limbic"),
    ("Cingulate Gyrus, posterior division", "limbic"),
    ("Precuneous Cortex", "parietal"),
    ("Cuneal Cortex", "occipital"),
    ("Frontal Orbital Cortex", "frontal"),
    ("Parahippocampal Gyrus, anterior division", "limbic"),
    ("Parahippocampal Gyrus, posterior division", "limbic"),
    ("Lingual Gyrus", "occipital"),
    ("Temporal Fusiform Cortex, anterior division", "temporal"),
    ("Temporal Fusiform Cortex, posterior division", "temporal"),
    ("Temporal Occipital Fusiform Cortex", "temporal"),
    ("Occipital Fusiform Gyrus", "occipital"),
    ("Frontal Operculum Cortex", "frontal"),
    ("Central Opercular Cortex", "frontal"),
    ("Parietal Operculum Cortex", "parietal"),
    ("Planum Polare", "temporal"),
    ("Heschl's Gyrus (includes H1 and H2)", "temporal"),
    ("Planum Temporale", "temporal"),
    ("Supracalcarine Cortex", "occipital"),
    ("Occipital Pole", "occipital"),
)


def log(message: str) -> None:
    print(f"{LOG_PREFIX} {message}", flush=True)


def resources() -> Path:
    """nimare's resources folder, found without importing nimare (it pulls in heavy packages)."""
    spec = importlib.util.find_spec("nimare")
    if spec is None or spec.origin is None:
        raise RuntimeError("nimare is not installed: pip install --no-deps nimare==0.22.1")
    return Path(spec.origin).parent / "resources"


def load_sources() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T1 (int16), lobe labels (uint8) and the affine, indexed (x, y, z) in RAS."""
    import nibabel as nib
    import numpy as np

    t1_img = nib.as_closest_canonical(nib.load(resources() / T1_FILE))
    atlas_img = nib.as_closest_canonical(nib.load(resources() / ATLAS_FILE))
    affine = t1_img.affine
    if not np.allclose(atlas_img.affine, affine) or atlas_img.shape != t1_img.shape:
        raise RuntimeError("the atlas and the T1 are not on one grid")
    if not np.allclose(affine[:3, :3], np.diag([2.0, 2.0, 2.0])):
        raise RuntimeError(f"unexpected T1 orientation (affine {affine.tolist()})")
    atlas = np.asarray(atlas_img.dataobj)
    if int(atlas.max()) != len(HARVARD_OXFORD):
        raise RuntimeError(f"expected {len(HARVARD_OXFORD)} atlas labels, got {atlas.max()}")
    lookup = np.zeros(len(HARVARD_OXFORD) + 1, dtype=np.uint8)  # atlas value -> class value
    for value, (_, lobe) in enumerate(HARVARD_OXFORD, start=1):
        lookup[value] = CLASSES.index(lobe) + 1 if lobe in CLASSES else 0
    t1 = np.asarray(t1_img.dataobj)  # int16, no scaling in the header: native values
    return t1.astype(np.int16), lookup[atlas], affine


def padded_box(low: int, high: int) -> tuple[int, int]:
    """[start, stop) around [low, high) plus the margin, widened (centred) to a multiple of 16."""
    start, stop = low - MARGIN, high + MARGIN
    extent = -(-(stop - start) // MULTIPLE) * MULTIPLE
    start -= (extent - (stop - start)) // 2
    return start, start + extent


def write_slice(array_yx: np.ndarray, path: Path, origin_ras: np.ndarray) -> None:
    """A 2D slice with its in-plane geometry (ITK's LPS: RAS x/y flip), written atomically."""
    import SimpleITK as sitk

    from medue.io.atomic import atomic_path

    image = sitk.GetImageFromArray(array_yx)
    image.SetSpacing((2.0, 2.0))
    image.SetOrigin((-float(origin_ras[0]), -float(origin_ras[1])))
    image.SetDirection((-1.0, 0.0, 0.0, -1.0))
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def build(out: Path) -> tuple[int, int, tuple[int, int]]:
    """Write the train/test slices; returns (train count, test count, (height, width))."""
    import numpy as np

    t1, label, affine = load_sources()
    kept = np.flatnonzero((label > 0).sum(axis=(0, 1)) * 4.0 >= MIN_CORTEX_MM2)  # 4 mm^2 a voxel
    xs, ys = np.nonzero((label[:, :, kept] > 0).any(axis=2))
    box_x = padded_box(int(xs.min()), int(xs.max()) + 1)
    box_y = padded_box(int(ys.min()), int(ys.max()) + 1)
    if box_x[0] < 0 or box_y[0] < 0 or box_x[1] > t1.shape[0] or box_y[1] > t1.shape[1]:
        raise RuntimeError(f"crop box {box_x} x {box_y} leaves the {t1.shape} grid")
    origin = affine[:3, :3] @ np.array([box_x[0], box_y[0], 0.0]) + affine[:3, 3]
    counts = {"train": 0, "test": 0}
    for position, z in enumerate(kept):
        split = "test" if (position // BLOCK) % TEST_EVERY == TEST_EVERY - 1 else "train"
        for source, folder in ((t1, out / split), (label, out / split / "labels" / "final")):
            plane = source[slice(*box_x), slice(*box_y), z].T  # (y, x), as SimpleITK expects
            write_slice(np.ascontiguousarray(plane), folder / f"slice_{z:03d}.nii.gz", origin)
        counts[split] += 1
    return counts["train"], counts["test"], (box_y[1] - box_y[0], box_x[1] - box_x[0])


def roi_summary(labels: np.ndarray) -> str:
    """How much of each (N, H, W) slice the ROI (every lobe) covers: mean, min and max."""
    fraction = (labels > 0).mean(axis=(1, 2))
    return f"{fraction.mean():.0%} (slices {fraction.min():.0%}..{fraction.max():.0%})"


def check(out: Path, epochs: int, threads: int) -> None:
    """Clean 2D victims at every seed, trained and scored as ``medue.evaluate`` does."""
    import torch

    from medue.evaluate.slices import load_slices
    from medue.evaluate.victim import VictimConfig, train_victim

    torch.set_num_threads(threads)
    train, test = load_slices(out / "train"), load_slices(out / "test")
    num_classes = int(train.labels.max()) + 1
    height, width = train.images.shape[1:]
    log(f"check: {len(train)} train / {len(test)} test slices of {height}x{width}, "
        f"{num_classes} classes, {epochs} epochs, {threads} thread(s); ROI of a slice: "
        f"train {roi_summary(train.labels)}, test {roi_summary(test.labels)}")  # fmt: skip
    print("| victim | seed | best DSC | best epoch | final DSC | wall (s) |", flush=True)
    print("|---|---|---|---|---|---|", flush=True)
    for architecture in CHECK_VICTIMS:
        for seed in CHECK_SEEDS:
            config = VictimConfig(architecture=architecture, epochs=epochs, seed=seed,
                                  num_classes=num_classes)  # fmt: skip
            started = time.perf_counter()
            result = train_victim(train, test, config)
            wall = time.perf_counter() - started
            print(f"| {architecture} | {seed} | {result.best_dsc:.3f} | {result.best_epoch} "
                  f"| {result.final_dsc:.3f} | {wall:.0f} |", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--check", action="store_true", help="then train clean victims on it")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="victim epochs for --check")
    parser.add_argument(
        "--threads", type=int, default=2,
        help="torch threads for --check (2 as in run_benchmarks.py; 1 is faster on a busy CPU)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    stamp = args.out / ".built"
    if stamp.is_file() and stamp.read_text() == BUILD_VERSION + "\n":
        log(f"{args.out} up to date ({BUILD_VERSION})")
    else:
        stamp.unlink(missing_ok=True)
        for split in ("train", "test"):
            shutil.rmtree(args.out / split, ignore_errors=True)
        train, test, (height, width) = build(args.out)
        stamp.write_text(BUILD_VERSION + "\n")
        log(f"{train} train / {test} test slices of {height}x{width} at 2 mm")
    if args.check:
        check(args.out, args.epochs, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
