"""The slices of a DICOM series: one per single-frame file, or the frames of one multi-frame file.

Three shapes are read:

* a classic series, one single-frame file per slice, placed by the Image Plane module
  (PS3.3 section C.7.6.2) and rescaled by the Modality LUT module (C.11.1);
* an enhanced multi-frame file (Enhanced CT/MR/PET, Legacy Converted, any file carrying the
  Multi-frame Functional Groups module, C.7.6.16): each frame placed by its Plane Position
  (Patient) and Plane Orientation (Patient) functional groups (C.7.6.16.2.3, C.7.6.16.2.4), sized
  by Pixel Measures (C.7.6.16.2.1) and rescaled by Pixel Value Transformation (C.7.6.16.2.9), each
  group looked up in the frame's Per-frame item first, then in the Shared item;
* a reconstructed Nuclear Medicine tomogram (NM Image, Image Type value 3 RECON TOMO, C.8.4.8):
  frames are parallel slices from the Detector Information's Image Position, Spacing Between
  Slices apart along the slice normal (C.8.4.10, C.8.4.15).

Any other multi-frame file (an ultrasound or X-ray cine loop, projections) has frames without
positions: it is not a volume and is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from medue.errors import InputError
from medue.io.dicom.files import sop_class_name, sop_class_of
from medue.io.dicom.geometry import SlicePlane

# Classic attributes that set slices at one position apart (see geometry._REPEATS), and the
# slice spacing a one-slice series declares.
_CLASSIC_TAGS = ("EchoTime", "EchoNumbers", "TemporalPositionIdentifier", "AcquisitionNumber",
                 "TriggerTime", "DiffusionBValue", "SpacingBetweenSlices")  # fmt: skip
# Per-frame attributes of the enhanced functional groups: (sequence, attribute, name used).
_FRAME_TAGS = (
    ("MREchoSequence", "EffectiveEchoTime", "EchoTime"),
    ("FrameContentSequence", "TemporalPositionIndex", "TemporalPositionIndex"),
    ("FrameContentSequence", "StackID", "StackID"),
    ("FrameContentSequence", "FrameAcquisitionNumber", "AcquisitionNumber"),
    ("CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime", "TriggerTime"),
    ("MRDiffusionSequence", "DiffusionBValue", "DiffusionBValue"),
    ("TemporalPositionSequence", "TemporalPositionTimeOffset", "TemporalPositionTimeOffset"),
)


def frame_count(header: Dataset) -> int:
    try:
        return max(1, int(header.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def is_multiframe(header: Dataset) -> bool:
    """A file whose frames are the slices: more than one frame, or functional groups."""
    return frame_count(header) > 1 or "PerFrameFunctionalGroupsSequence" in header


def classic_planes(files: list[tuple[Path, Dataset]]) -> list[SlicePlane]:
    """One plane per single-frame file."""
    return [
        SlicePlane(
            label=path.name,
            size=_size(header),
            position=_numbers(header.get("ImagePositionPatient"), 3),
            orientation=_numbers(header.get("ImageOrientationPatient"), 6),
            pixel_spacing=_pixel_spacing(header),
            rescale=_rescale(header, (1.0, 0.0)),
            tags={key: _scalar(header.get(key)) for key in _CLASSIC_TAGS if key in header},
        )
        for path, header in files
    ]


def multiframe_planes(path: Path, header: Dataset) -> list[SlicePlane]:
    """One plane per frame of a multi-frame file, or an InputError if frames are not slices."""
    if "PerFrameFunctionalGroupsSequence" in header:
        return _functional_group_planes(path, header)
    if _is_nm_tomogram(header):
        return _nm_planes(path, header)
    raise InputError(
        path,
        f"a multi-frame {sop_class_name(sop_class_of(header))} file whose "
        f"{frame_count(header)} frames carry no slice positions (a cine loop or projections, "
        "not a volume); MedUE protects volumes made of positioned slices",
    )


def _functional_group_planes(path: Path, header: Dataset) -> list[SlicePlane]:
    frames = frame_count(header)
    per_frame = header.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != frames:
        raise InputError(
            path, f"NumberOfFrames is {frames} but {len(per_frame)} per-frame functional groups"
        )
    default = _rescale(header, (1.0, 0.0))
    planes = []
    for index in range(frames):
        position = _group(header, index, "PlanePositionSequence")
        orientation = _group(header, index, "PlaneOrientationSequence")
        measures = _group(header, index, "PixelMeasuresSequence")
        transform = _group(header, index, "PixelValueTransformationSequence")
        planes.append(
            SlicePlane(
                label=f"frame {index + 1}",
                size=_size(header),
                position=_numbers(_value(position, "ImagePositionPatient"), 3),
                orientation=_numbers(_value(orientation, "ImageOrientationPatient"), 6),
                pixel_spacing=_pixel_spacing(measures) or _pixel_spacing(header),
                rescale=_rescale(transform, default),
                tags=_frame_tags(header, index),
            )
        )
    if frames > 1 and any(p.position is None for p in planes):
        raise InputError(
            path,
            f"a multi-frame {sop_class_name(sop_class_of(header))} file whose frames carry no "
            "PlanePositionSequence (not a volume); MedUE protects volumes of positioned slices",
        )
    return planes


def _is_nm_tomogram(header: Dataset) -> bool:
    image_type = header.get("ImageType") or []
    image_type = [image_type] if isinstance(image_type, str) else [str(v) for v in image_type]
    return str(header.get("Modality", "")) == "NM" and "RECON TOMO" in image_type[2:3]


def _nm_planes(path: Path, header: Dataset) -> list[SlicePlane]:
    detectors = header.get("DetectorInformationSequence") or []
    detector = detectors[0] if len(detectors) == 1 else Dataset()
    corner = _numbers(detector.get("ImagePositionPatient"), 3)
    orientation = _numbers(detector.get("ImageOrientationPatient"), 6)
    step = _scalar(header.get("SpacingBetweenSlices")) or _scalar(header.get("SliceThickness"))
    if corner is None or orientation is None or not step:
        raise InputError(
            path,
            "NM tomogram without one DetectorInformationSequence item holding "
            "ImagePositionPatient/ImageOrientationPatient, or without SpacingBetweenSlices",
        )
    row, column = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, column) / np.linalg.norm(np.cross(row, column))
    return [
        SlicePlane(
            label=f"frame {index + 1}",
            size=_size(header),
            position=tuple(float(v) for v in np.asarray(corner) + index * float(step) * normal),
            orientation=orientation,
            pixel_spacing=_pixel_spacing(header),
            rescale=_rescale(header, (1.0, 0.0)),
        )
        for index in range(frame_count(header))
    ]


def _group(header: Dataset, index: int, keyword: str) -> Dataset | None:
    """The functional group ``keyword`` of frame ``index``: per-frame item first, then shared."""
    per_frame = header.get("PerFrameFunctionalGroupsSequence") or []
    shared = header.get("SharedFunctionalGroupsSequence") or []
    for items in (per_frame[index : index + 1], shared[:1]):
        for item in items:
            sequence = item.get(keyword)
            if sequence:
                return sequence[0]
    return None


def _value(item: Dataset | None, keyword: str):
    return None if item is None else item.get(keyword)


def _frame_tags(header: Dataset, index: int) -> dict[str, Any]:
    tags = {}
    for keyword, attribute, name in _FRAME_TAGS:
        item = _group(header, index, keyword)
        if item is not None and attribute in item:
            tags[name] = _scalar(item.get(attribute))
    return tags


def _size(header: Dataset) -> tuple[int, int]:
    return int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)


def _pixel_spacing(header: Dataset | None) -> tuple[float, float] | None:
    if header is None:
        return None
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        spacing = _numbers(header.get(keyword), 2)
        if spacing is not None and all(v > 0 for v in spacing):
            return spacing
    return None


def _rescale(item: Dataset | None, default: tuple[float, float]) -> tuple[float, float]:
    if item is None or ("RescaleSlope" not in item and "RescaleIntercept" not in item):
        return default
    slope = _scalar(item.get("RescaleSlope"))
    intercept = _scalar(item.get("RescaleIntercept"))
    return (1.0 if slope is None else float(slope), 0.0 if intercept is None else float(intercept))


def _numbers(value, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and np.all(np.isfinite(numbers)) else None


def _scalar(value):
    """A DICOM number as float (DS, FD) or int (IS, US); a multi-valued one by its first value."""
    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return int(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
