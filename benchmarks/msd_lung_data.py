"""MSD Task06 lung-tumour CT patches (26 patients) as MedUE reads it: one NIfTI volume per patient.

Source: the Medical Segmentation Decathlon, Task06_Lung (Simpson et al., arXiv 1902.09063; CC BY-SA
4.0, http://medicaldecathlon.com): CT of non-small-cell lung cancer. This script takes a patch
release of it — two HDF5 files, ``val_patches.h5`` (13 patients) and ``test_patches.h5`` (13 other
patients), datasets ``images`` (N, 1, 48, 48) float32 in [0, 1] (windowed CT at 2 mm) and
``labels`` (tumour 0/1), 10 patches per patient in order — and writes the first as the training
set and the second as the test set (split by patient). Intensities are stored as uint8 (x255,
rounded): the release is judged on the 0-255 scale, like DRIVE. Each patient's 10 patches are one
volume (10, 48, 48) at 2 mm, so victims hold out and test whole patients; protect it with
``--mode 2d`` (the patches are not neighbouring slices). Output::

    OUT/train/patientNN.nii.gz, OUT/train/labels/final/patientNN.nii.gz
    OUT/test/patientNN.nii.gz,  OUT/test/labels/final/patientNN.nii.gz

    python benchmarks/msd_lung_data.py --msd /path/to/msd-lung --out /tmp/msd
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import SimpleITK as sitk

FILES = {"train": "val_patches.h5", "test": "test_patches.h5"}
PATCHES_PER_PATIENT = 10


def write(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(path), useCompression=True)


def convert(msd: Path, out: Path) -> int:
    """Write one volume per patient and split; returns the number of patients."""
    patients = 0
    for split, name in FILES.items():
        with h5py.File(msd / name, "r") as source:
            images = np.asarray(source["images"])[:, 0]
            labels = np.asarray(source["labels"])[:, 0]
        stored = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
        for start in range(0, len(stored), PATCHES_PER_PATIENT):
            patient = f"patient{start // PATCHES_PER_PATIENT + 1:02d}"
            block = slice(start, start + PATCHES_PER_PATIENT)
            write(stored[block], out / split / f"{patient}.nii.gz")
            write((labels[block] > 0.5).astype(np.uint8),
                  out / split / "labels" / "final" / f"{patient}.nii.gz")  # fmt: skip
            patients += 1
    return patients


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--msd", type=Path, required=True, help="folder with the two .h5 files")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    missing = [name for name in FILES.values() if not (args.msd / name).is_file()]
    if missing:
        print(f"{args.msd}: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    stamp = args.out / ".built"
    if not stamp.is_file():
        count = convert(args.msd, args.out)
        stamp.write_text(f"{count} patients\n")
        print(f"MSD lung: {count} patients into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
