#!/usr/bin/env python3
"""Build two real 2D classification benchmarks (for SALM) from data that ships in packages.

Usage: ``python benchmarks/classify_data.py --out DIR [--check [--epochs N] [--threads 1]]``

Each task is a classification dataset folder ``DIR/<task>/{train,test}/`` of 2D NIfTI slices in
the source's own dtype, each split with a ``labels.csv`` (header ``image,label``; the image path
relative to the CSV, the label a class name), read by ``medue.class_datasets``. The split keeps
neighbouring slices of one volume together: contiguous blocks of slices, every third or fourth
block to test. ``DIR/<task>/.built`` is the stamp; a rerun with the same version does nothing.

``brain-level`` -- which level of the brain an axial T1 slice shows. Sources: the MNI ICBM152
2009 nonlinear symmetric T1 (nilearn 0.14 wheel, ``mni_icbm152_t1_tal_nlin_sym_09a``, uint8,
skull-stripped; licence: free use with the McConnell Brain Imaging Centre copyright notice) and
the FSL MNI152NLin6Asym T1 at 1 mm (nimare 0.22.1 wheel, ``resources/templates``, int16 with the
scalp; FSL non-commercial licence: fine for a benchmark, not for shipping). Both are averages of
real scans in one space, so one MNI z means one anatomical level in both, and they look different
(contrast, skull). Classes by MNI z (mm): ``posterior_fossa`` [-64, -32) (cerebellum, pons,
temporal poles), ``midbrain`` [-32, 0) (midbrain, temporal lobes, orbits), ``ventricles`` [0, 40)
(basal ganglia, thalami, lateral ventricles), ``vertex`` [40, 80) (centrum semiovale to the top).
Slices every 1 mm for z in [-64, 80), in-plane 3 mm (3x3 block means of the 1 mm grid, rounded
back to the source dtype) over x in [-96, 96), y in [-116, 76) mm: 64x64 pixels (outside the FSL
grid: 0, its background). Split by blocks of 8 mm of z, the same for both templates (so no test
slice has its twin in train), the third of every 4 blocks to test: one test block per class, each
8 mm or more from a class boundary. (With the fourth of every 4, two test blocks end at a boundary,
where a slice 1 mm below it looks like one 1 mm above: the best epoch then scored 0.91 for both
victims at seed 0, and accuracy swung by 0.1-0.3 from epoch to epoch.)
Counts: 224 train (24/24/32/32 slices of each template), 64 test (8 of each class and template).

``body-region`` -- which scan an axial slice comes from: ``brain`` (contrast T1 MR, brain1 and
brain2, 48 slices), ``breast`` (MR, breast1, 21 slices of a 30x80 mm crop), ``chest`` (CT, lung1 and
lung2, 109 slices from upper abdomen to neck, HU). Source: the five pyradiomics 3.0.1 test cases
(BSD-3, ``sample_data/build.py`` puts them in ``sample_data/build/pyradiomics``). In-plane
block means, rounded back to int16: brain 4x4 (256 -> 64 px, 3.1 mm), chest 8x8 (512 -> 64 px,
4.6-5 mm), breast 2x2 (45x120 -> 23x60 px, 1.3 mm; the victim pads it to 64x64). The classes
differ by modality and anatomy alike, so this is an easy task: a protection must beat a strong
signal. Split by blocks of >= 10 mm of z (2 slices of brain or chest, 5 of breast), every 3rd
block of each volume to test. Counts: 122 train (brain 33, breast 16, chest 73), 56 test
(brain 15, breast 5, chest 36).

``--check`` reads each folder back as an attacker would (``discover_classified`` and
``read_volume``: native values) and trains clean victims (``medue.evaluate.classifier_victim``)
at 3 seeds. Measured with ``python benchmarks/classify_data.py --out DIR --check`` (one
thread, the default; 2-core CPU shared with another job), best-epoch accuracy / balanced
accuracy:

=========== ============ ======================== ========================= ===========
task        victim       seed 0                   seed 1                    seed 2
=========== ============ ======================== ========================= ===========
brain-level resnet18     1.000 / 1.000 (ep 6)     1.000 / 1.000 (ep 7)      1.000 / 1.000 (ep 4)
brain-level densenet121  1.000 / 1.000 (ep 4)     1.000 / 1.000 (ep 2)      1.000 / 1.000 (ep 4)
body-region resnet18     1.000 / 1.000 (ep 7)     1.000 / 1.000 (ep 8)      1.000 / 1.000 (ep 6)
body-region densenet121  1.000 / 1.000 (ep 5)     1.000 / 1.000 (ep 4)      1.000 / 1.000 (ep 5)
=========== ============ ======================== ========================= ===========

15 epochs, batch 16, Adam 1e-3. Final-epoch accuracy 0.875-1.000 (brain-level) and 0.911-1.000
(body-region): an epoch can drop by 0.1 and recover, so the best epoch is the attacker's number.
Floors: chance 0.25 / majority 0.25 (brain-level), 0.33 / 0.64 (body-region). Wall time a run,
one thread, CPU shared: ResNet-18 69-80 s (brain-level) and 41-44 s (body-region), DenseNet-121
130-144 s and 77-88 s.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy modules are imported only when a build is needed
    import numpy as np

REPO = Path(__file__).resolve().parents[1]
PYRADIOMICS = REPO / "sample_data" / "build" / "pyradiomics"
LOG_PREFIX = "[classify]"
CHECK_VICTIMS = ("resnet18", "densenet121")
CHECK_SEEDS = (0, 1, 2)
EPOCHS = {"brain-level": 15, "body-region": 15}

# brain-level
LEVELS = (("posterior_fossa", -64), ("midbrain", -32), ("ventricles", 0), ("vertex", 40))
Z_STOP = 80  # mm, exclusive
BOX_X = (-96, 96)  # mm, RAS, exclusive stop
BOX_Y = (-116, 76)
PIXEL = 3  # mm: in-plane block size on the 1 mm grids
BLOCK_Z = 8  # mm
TEST_EVERY_LEVEL = 4
TEST_BLOCK = 2  # of every 4 blocks, this one to test: 8 mm or more from every class boundary
ICBM_FILE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"  # in nilearn
FSL_FILE = "resources/templates/tpl-MNI152NLin6Asym_res-01_T1w.nii.gz"  # in nimare

# body-region
CASES = (  # (case, class, in-plane block size)
    ("brain1", "brain", 4),
    ("brain2", "brain", 4),
    ("breast1", "breast", 2),
    ("lung1", "chest", 8),
    ("lung2", "chest", 8),
)
BLOCK_MM = 10.0
TEST_EVERY_REGION = 3

VERSIONS = {"brain-level": "brain-level-2d/v2", "body-region": "body-region-2d/v1"}


def log(message: str) -> None:
    print(f"{LOG_PREFIX} {message}", flush=True)


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing it (nimare is heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{package} is not installed (pip install --no-deps {package})")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the installed {package}")
    return path


def block_mean(plane: np.ndarray, factor: int, dtype: np.dtype) -> np.ndarray:
    """Mean of each factor x factor block (edges padded by replication), rounded to ``dtype``."""
    import numpy as np

    grow = [(0, -n % factor) for n in plane.shape]
    plane = np.pad(plane.astype(np.float64), grow, mode="edge")
    height, width = plane.shape[0] // factor, plane.shape[1] // factor
    means = plane.reshape(height, factor, width, factor).mean(axis=(1, 3))
    info = np.iinfo(dtype)
    return np.clip(np.round(means), info.min, info.max).astype(dtype)


def write_slice(array_yx: np.ndarray, path: Path, spacing, origin, direction) -> None:
    """A 2D image (rows y, columns x) with its in-plane LPS geometry, written atomically."""
    import SimpleITK as sitk

    from medue.io.atomic import atomic_path

    image = sitk.GetImageFromArray(array_yx)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in origin))
    image.SetDirection(tuple(float(d) for d in direction))
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def write_labels(folder: Path, rows: list[tuple[str, str]]) -> None:
    """``labels.csv``: header ``image,label``, one row per image (path relative to the CSV)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("image", "label"))
        writer.writerows(sorted(rows))


def mni_template(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A 1 mm template indexed (x, y, z) in RAS, in its stored dtype, and its affine."""
    import nibabel as nib
    import numpy as np

    image = nib.load(path)
    affine = image.affine
    slope, _ = image.header.get_slope_inter()
    if not np.allclose(affine[:3, :3], np.eye(3)) or slope not in (None, 1.0):
        raise RuntimeError(f"{path.name}: expected a 1 mm RAS grid with no scaling")
    return np.asarray(image.dataobj), affine


def mni_box(volume: np.ndarray, first_mm: np.ndarray) -> np.ndarray:
    """The BOX_X x BOX_Y (mm) columns of every z of a 1 mm template; 0 outside its grid.

    ``first_mm`` is the (x, y, z) position of voxel 0 in mm, integer on these grids.
    """
    import numpy as np

    box = np.zeros((BOX_X[1] - BOX_X[0], BOX_Y[1] - BOX_Y[0], volume.shape[2]), volume.dtype)
    source, target = [], []
    for (low, high), first, size in zip(
        (BOX_X, BOX_Y), first_mm[:2], volume.shape[:2], strict=True
    ):
        start, stop = max(low - first, 0), min(high - first, size)  # template indices
        source.append(slice(start, stop))
        target.append(slice(start + first - low, stop + first - low))
    box[target[0], target[1]] = volume[source[0], source[1]]
    return box


def level_of(z_mm: int) -> str:
    """The brain-level class of an MNI z (mm)."""
    return [name for name, start in LEVELS if z_mm >= start][-1]


def build_brain_level(out: Path) -> dict[str, int]:
    """Write the brain-level task; returns the slice count per split."""
    import numpy as np

    templates = {
        "icbm2009": package_file("nilearn", ICBM_FILE),
        "fsl6": package_file("nimare", FSL_FILE),
    }
    rows: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    spacing, direction = (PIXEL, PIXEL), (-1.0, 0.0, 0.0, -1.0)  # RAS x, y -> LPS -x, -y
    origin = (-(BOX_X[0] + (PIXEL - 1) / 2), -(BOX_Y[0] + (PIXEL - 1) / 2))
    for name, path in templates.items():
        volume, affine = mni_template(path)
        start = np.round(affine[:3, 3]).astype(int)  # mm of voxel 0
        box = mni_box(volume, start)
        for z_mm in range(LEVELS[0][1], Z_STOP):
            plane = block_mean(box[:, :, z_mm - start[2]].T, PIXEL, volume.dtype)  # (y, x)
            block = (z_mm - LEVELS[0][1]) // BLOCK_Z
            split = "test" if block % TEST_EVERY_LEVEL == TEST_BLOCK else "train"
            file = f"{name}_z{z_mm:+04d}.nii.gz"
            write_slice(plane, out / split / file, spacing, (*origin,), direction)
            rows[split].append((file, level_of(z_mm)))
    for split, listed in rows.items():
        write_labels(out / split, listed)
    return {split: len(listed) for split, listed in rows.items()}


def build_body_region(out: Path) -> dict[str, int]:
    """Write the body-region task; returns the slice count per split."""
    import math

    import numpy as np
    import SimpleITK as sitk

    rows: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for case, label, factor in CASES:
        path = PYRADIOMICS / f"{case}.nii.gz"
        if not path.is_file():
            raise RuntimeError(f"{path} missing: build it with python sample_data/build.py")
        image = sitk.ReadImage(str(path))
        array = sitk.GetArrayFromImage(image)  # (z, y, x), stored dtype
        spacing = np.array(image.GetSpacing())
        direction = np.array(image.GetDirection()).reshape(3, 3)
        block = math.ceil(BLOCK_MM / spacing[2] - 1e-6)
        centre = (factor - 1) / 2.0  # index of the first block mean's centre, in old pixels
        for z in range(array.shape[0]):
            plane = block_mean(array[z], factor, array.dtype)
            origin = image.TransformContinuousIndexToPhysicalPoint((centre, centre, float(z)))
            split = "test" if (z // block) % TEST_EVERY_REGION == TEST_EVERY_REGION - 1 else "train"
            file = f"{case}_z{z:02d}.nii.gz"
            write_slice(plane, out / split / file, spacing[:2] * factor, origin[:2],
                        direction[:2, :2].ravel())  # fmt: skip
            rows[split].append((file, label))
    for split, listed in rows.items():
        write_labels(out / split, listed)
    return {split: len(listed) for split, listed in rows.items()}


BUILDERS: dict[str, Callable[[Path], dict[str, int]]] = {
    "brain-level": build_brain_level,
    "body-region": build_body_region,
}


def load_split(folder: Path, classes: tuple[str, ...]) -> list:
    """The split as an attacker reads it: listed by its CSV, native values, class indices."""
    from medue.class_datasets import discover_classified
    from medue.evaluate.classifier_victim import Sample
    from medue.io import read_volume

    cases = discover_classified(folder)
    bad = [case for case in cases if case.problem]
    if bad:
        raise RuntimeError(f"{folder}: {bad[0].image.name}: {bad[0].problem}")
    return [Sample(read_volume(c.image).array, classes.index(c.category)) for c in cases]


def check(out: Path, task: str, epochs: int, threads: int) -> None:
    """Clean victims of both architectures at every seed, with their best and final scores."""
    import numpy as np
    import torch

    from medue.class_datasets import class_names, discover_classified
    from medue.evaluate.classifier_victim import train_victim

    torch.set_num_threads(threads)
    classes = class_names(discover_classified(out / task / "train"))
    train = load_split(out / task / "train", classes)
    test = load_split(out / task / "test", classes)
    counts = [np.bincount([s.label for s in data], minlength=len(classes)).tolist()
              for data in (train, test)]  # fmt: skip
    log(f"check {task}: classes {', '.join(classes)}; train {counts[0]}, test {counts[1]}; "
        f"{epochs} epochs, {threads} thread(s)")  # fmt: skip
    print("| task | victim | seed | best acc | best bal. acc | best epoch | final acc "
          "| chance / majority | wall (s) |", flush=True)  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for arch in CHECK_VICTIMS:
        for seed in CHECK_SEEDS:
            started = time.perf_counter()
            run = train_victim(train, test, arch, seed, epochs)
            wall = time.perf_counter() - started
            print(f"| {task} | {arch} | {seed} | {run.best_accuracy:.3f} "
                  f"| {run.best_balanced_accuracy:.3f} | {run.best_epoch} "
                  f"| {run.final_accuracy:.3f} | {run.chance:.2f} / {run.majority:.2f} "
                  f"| {wall:.0f} |", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--task", choices=(*BUILDERS, "all"), default="all")
    parser.add_argument("--check", action="store_true", help="then train clean victims on it")
    parser.add_argument("--epochs", type=int, help="victim epochs for --check (default per task)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for --check")
    args = parser.parse_args(argv)
    tasks = list(BUILDERS) if args.task == "all" else [args.task]
    for task in tasks:
        folder = args.out / task
        stamp = folder / ".built"
        if stamp.is_file() and stamp.read_text() == VERSIONS[task] + "\n":
            log(f"{folder} up to date ({VERSIONS[task]})")
        else:
            stamp.unlink(missing_ok=True)
            for split in ("train", "test"):
                shutil.rmtree(folder / split, ignore_errors=True)
            counts = BUILDERS[task](folder)
            stamp.write_text(VERSIONS[task] + "\n")
            log(f"{task}: {counts['train']} train / {counts['test']} test slices in {folder}")
    if args.check:
        for task in tasks:
            check(args.out, task, args.epochs or EPOCHS[task], args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
