"""PneumoniaMNIST (real paediatric chest X-rays) as MedUE reads a classification dataset.

Source: MedMNIST v2 (Yang et al., Scientific Data 10:41, 2023; CC BY 4.0, https://medmnist.com),
PneumoniaMNIST: chest X-rays of Kermany et al. (Cell 172(5), 2018), normal vs pneumonia, resized
to 28x28 uint8. This script takes an ``.npz`` with MedMNIST's keys (``train_images``,
``train_labels``, ``val_*``, ``test_*``) and writes one folder per split, each a classification
dataset (``labels.csv`` with ``image,label`` rows and one 2D NIfTI per image, uint8 as stored)::

    OUT/train/labels.csv, OUT/train/train_0000.nii.gz, ...
    OUT/val/...   OUT/test/...

Labels are written as class names (``normal``, ``pneumonia``). Idempotent (stamp ``OUT/.built``).

    python benchmarks/pneumoniamnist_data.py --npz pneumoniamnist.npz --out /tmp/pneumonia
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

CLASSES = ("normal", "pneumonia")
SPLITS = ("train", "val", "test")


def convert(npz: Path, out: Path) -> dict[str, int]:
    """Write each split; returns the number of images per split."""
    data = np.load(npz)
    counts = {}
    for split in SPLITS:
        images, labels = data[f"{split}_images"], data[f"{split}_labels"].reshape(-1)
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            name = f"{split}_{index:04d}.nii.gz"
            itk = sitk.GetImageFromArray(np.asarray(image, dtype=np.uint8))
            sitk.WriteImage(itk, str(folder / name), useCompression=True)
            rows.append((name, CLASSES[int(label)]))
        with open(folder / "labels.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "label"])
            writer.writerows(rows)
        counts[split] = len(rows)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", type=Path, required=True, help="MedMNIST pneumoniamnist.npz")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    if not args.npz.is_file():
        print(f"{args.npz}: no such file", file=sys.stderr)
        return 2
    stamp = args.out / ".built"
    if not stamp.is_file():
        counts = convert(args.npz, args.out)
        stamp.write_text(f"{counts}\n")
        print(f"PneumoniaMNIST: {counts} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
