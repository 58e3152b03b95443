"""DRIVE (retinal vessels, 40 patients) as MedUE reads it: 2D NIfTI green-channel images + labels.

DRIVE: Digital Retinal Images for Vessel Extraction (Staal et al., IEEE TMI 23(4), 2004): 40
colour fundus photographs of 40 people, 565x584, 8-bit RGB TIFF, the official split of 20
training and 20 test images, vessel masks by a first observer (``1st_manual``), a second observer
for the test images (``2nd_manual``) and field-of-view masks (``mask``). Download it from the
DRIVE challenge (https://drive.grand-challenge.org, research use); this script takes that folder
(``training/`` and ``testing/`` inside) as it comes.

Vessel segmentation uses the green channel (best vessel contrast), kept as uint8, the stored
dtype of the source, so the release is judged on the 0-255 scale the 2D papers use. Output::

    OUT/train/NN.nii.gz, OUT/train/labels/final/NN.nii.gz   (20 training patients)
    OUT/test/NN.nii.gz,  OUT/test/labels/final/NN.nii.gz    (20 test patients)
    OUT/test_fov/NN.nii.gz                                   (field of view: score inside it)
    OUT/test_2nd/NN.nii.gz                                   (second observer, the human bar)

Pixel spacing is not given by DRIVE; 1 mm is written. Idempotent: a stamp ``OUT/.built``.

    python benchmarks/drive_data.py --drive /path/to/DRIVE --out /tmp/drive
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

SPLITS = {"train": ("training", "training"), "test": ("testing", "test")}


def read_gif(path: Path) -> np.ndarray:
    """A DRIVE mask/manual GIF as a 0/1 uint8 array (255 = on)."""
    return (np.asarray(Image.open(path).convert("L")) > 127).astype(np.uint8)


def write(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0))
    sitk.WriteImage(image, str(path), useCompression=True)


def convert(drive: Path, out: Path) -> int:
    """Write every case; returns how many images were written."""
    count = 0
    for split, (folder, suffix) in SPLITS.items():
        for tif in sorted((drive / folder / "images").glob("*.tif")):
            number = tif.name.split("_")[0]
            green = np.asarray(Image.open(tif).convert("RGB"))[..., 1].astype(np.uint8)
            vessels = read_gif(drive / folder / "1st_manual" / f"{number}_manual1.gif")
            write(green, out / split / f"{number}.nii.gz")
            write(vessels, out / split / "labels" / "final" / f"{number}.nii.gz")
            if split == "test":
                fov = read_gif(drive / folder / "mask" / f"{number}_{suffix}_mask.gif")
                write(fov, out / "test_fov" / f"{number}.nii.gz")
                second = drive / folder / "2nd_manual" / f"{number}_manual2.gif"
                if second.is_file():
                    write(read_gif(second), out / "test_2nd" / f"{number}.nii.gz")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--drive", type=Path, required=True, help="DRIVE folder (training/, testing/)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    if not (args.drive / "training" / "images").is_dir():
        print(f"{args.drive}: not a DRIVE folder (training/images missing)", file=sys.stderr)
        return 2
    stamp = args.out / ".built"
    if stamp.is_file():
        return 0
    count = convert(args.drive, args.out)
    stamp.write_text(f"{count} images\n")
    print(f"DRIVE: {count} images into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
