"""What ``medue info`` says about an image: size, spacing, storage, intensities, modality, labels.

Storage is what the file holds, not what a reader converts it to: the stored type, the bits in
use, the scaling to native units and (DICOM) the photometric interpretation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from medue.datasets import LoadedCase


@dataclass(frozen=True)
class CaseSummary:
    image_id: str
    path: str
    format: str
    modality: str
    size_xyz: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    dtype: str  # as stored: type, bits in use, scaling (e.g. "int16, native = 2 * stored -1024")
    intensity_min: float
    intensity_max: float
    label_path: str | None = None
    label_classes: tuple[int, ...] = ()
    roi_voxels: int | None = None
    photometric_interpretation: str | None = None  # DICOM: MONOCHROME1 is shown inverted

    def as_dict(self) -> dict:
        return asdict(self)

    def as_line(self) -> str:
        size = "x".join(str(s) for s in self.size_xyz)
        spacing = "x".join(f"{s:.3g}" for s in self.spacing_mm)
        line = (
            f"{self.image_id}: {self.format} {self.modality} {size} @ {spacing} mm, "
            f"stored {self.dtype}, range [{self.intensity_min:g}, {self.intensity_max:g}]"
        )
        if self.photometric_interpretation:
            line += f", {self.photometric_interpretation}"
        if self.label_path is None:
            return line + ", no label"
        classes = ",".join(str(c) for c in self.label_classes)
        return line + f", label classes {{{classes}}}, ROI {self.roi_voxels} voxels"


def summarise(loaded: LoadedCase) -> CaseSummary:
    image, label = loaded.image, loaded.label
    classes: tuple[int, ...] = ()
    roi = None
    if label is not None:
        classes = tuple(int(v) for v in np.unique(label) if v != 0)
        roi = int(np.count_nonzero(label))
    return CaseSummary(
        image_id=loaded.case.image_id,
        path=str(loaded.case.image),
        format=image.format,
        modality=image.modality,
        size_xyz=tuple(reversed(image.shape)),
        spacing_mm=tuple(round(s, 4) for s in image.geometry.spacing),
        dtype=image.encoding.describe(),
        intensity_min=float(np.min(image.array)),
        intensity_max=float(np.max(image.array)),
        label_path=str(loaded.case.label) if loaded.case.label else None,
        label_classes=classes,
        roi_voxels=roi,
        photometric_interpretation=image.metadata.get("photometric_interpretation"),
    )
