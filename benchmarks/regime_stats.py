"""What separates a dataset where a voxel pattern protects from one where it does not.

For each labelled slice of a dataset folder (``drive_data.py`` / ``msd_lung_data.py`` output):
the target's contrast (|mean inside the label - mean in a 3-voxel ring around it|, grey levels),
the fine-scale noise outside the label (1.4826 x MAD of the image minus its 3x3 mean), the
target's thickness (twice the mean distance to its edge, voxels) and the labelled fraction;
medians over slices. docs/BENCHMARKS.md §13 quotes them beside the manifest's ``noise_sigma_fine``.

    python benchmarks/regime_stats.py /tmp/drive/train /tmp/msd/train
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def slice_stats(image: np.ndarray, label: np.ndarray) -> dict[str, float]:
    ring = ndimage.binary_dilation(label, iterations=3) & ~label
    highpass = image - ndimage.uniform_filter(image, 3)
    outside = highpass[~label]
    return {
        "contrast": abs(image[label].mean() - image[ring].mean()),
        "fine_noise": 1.4826 * float(np.median(np.abs(outside - np.median(outside)))),
        "thickness": 2 * float(ndimage.distance_transform_edt(label)[label].mean()),
        "fraction": float(label.mean()),
    }


def dataset_stats(folder: Path) -> dict[str, float]:
    rows = []
    for path in sorted(folder.glob("*.nii.gz")):
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float64)
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labels/final" / path.name)))
        image, label = image.reshape(-1, *image.shape[-2:]), label.reshape(-1, *label.shape[-2:])
        rows += [slice_stats(i, lab > 0) for i, lab in zip(image, label, strict=True) if lab.any()]
    return {key: float(np.median([row[key] for row in rows])) for key in rows[0]}


def main(argv: list[str] | None = None) -> int:
    for folder in argv if argv is not None else sys.argv[1:]:
        stats = dataset_stats(Path(folder))
        print(folder, ", ".join(f"{key} {value:.3g}" for key, value in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
