"""Stacking DICOM slices into one volume, checked: one grid, or one clear refusal.

Each slice (a single-frame file, or one frame of a multi-frame file) is placed by its Image
Position (Patient) and Image Orientation (Patient) (PS3.3 section C.7.6.2, Image Plane module;
C.7.6.16.2.3 and C.7.6.16.2.4 for the Plane Position and Plane Orientation functional groups) and
sized by Pixel Spacing (C.7.6.2.1.1, row spacing first). A volume needs every slice to share size,
orientation and pixel spacing, to lie once at each position along the slice normal, stacked
straight along that normal, at one uniform spacing. Series that break this (two MR echoes at the
same positions, several time points, a missing slice, a tilted gantry) are refused naming the
reason: a made-up spacing would misplace every voxel and every label drawn on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medue.errors import InputError
from medue.io.volume import Geometry

ORIENTATION_TOLERANCE = 1e-4  # direction cosines
DUPLICATE_DISTANCE = 0.01  # mm: slices closer than this along the normal are at one position

# Attributes that tell apart slices lying at one position, and what one value of each is called.
_REPEATS = {
    "AcquisitionNumber": "acquisitions",
    "TriggerTime": "cardiac phases",
    "DiffusionBValue": "diffusion b-values",
    "StackID": "stacks",
    "TemporalPositionTimeOffset": "time points",
}


@dataclass
class SlicePlane:
    """One 2D slice of a series: a single-frame file or one frame of a multi-frame file."""

    label: str  # 'slice_0003.dcm' or 'frame 3'
    size: tuple[int, int]  # Rows, Columns
    position: tuple[float, ...] | None  # Image Position (Patient), mm
    orientation: tuple[float, ...] | None  # Image Orientation (Patient): row, then column cosines
    pixel_spacing: tuple[float, float] | None  # between rows (y), between columns (x), mm
    rescale: tuple[float, float] = (1.0, 0.0)  # Rescale Slope, Rescale Intercept
    tags: dict[str, Any] = field(default_factory=dict)  # EchoTime, AcquisitionNumber, ...


def assemble(folder: Path, planes: list[SlicePlane]) -> tuple[list[int], Geometry]:
    """The order of ``planes`` along the slice normal and the volume grid they make.

    Raises :class:`InputError` naming ``folder`` when the slices do not make one volume.
    """
    _check_same(folder, [p.size for p in planes], "sizes (Rows x Columns)", _size_text)
    if len(planes) == 1 and (planes[0].position is None or planes[0].orientation is None):
        return [0], _flat_geometry(planes[0])
    _check_placed(folder, planes)
    _check_same(folder, [p.orientation for p in planes], "orientations", _iop_text, _same_iop)
    _check_same(folder, [p.pixel_spacing for p in planes], "PixelSpacing", _ps_text, _same_ps)
    normal = _normal(planes[0].orientation)
    heights = np.array([float(np.dot(p.position, normal)) for p in planes])
    order = [int(i) for i in np.argsort(heights, kind="stable")]
    gaps = np.diff(heights[order])
    _check_repeats(folder, planes, bool(np.any(gaps < DUPLICATE_DISTANCE)))
    _check_duplicates(folder, planes, order, gaps)
    _check_straight(folder, planes, normal)
    spacing = _check_spacing(folder, planes, order, gaps)
    return order, _geometry(planes[order[0]], normal, spacing)


def _check_same(folder: Path, values: list, what: str, text, same=None) -> None:
    same = same or (lambda a, b: a == b)
    distinct: list = []
    for value in values:
        if not any(same(value, seen) for seen in distinct):
            distinct.append(value)
    if len(distinct) > 1:
        shown = ", ".join(text(v) for v in distinct[:4])
        raise InputError(
            folder,
            f"slices have {len(distinct)} different {what} ({shown}); "
            "a volume needs one; put each kind in its own folder",
        )


def _check_placed(folder: Path, planes: list[SlicePlane]) -> None:
    for plane in planes:
        if plane.position is None or plane.orientation is None:
            raise InputError(
                folder,
                f"{plane.label} has no ImagePositionPatient/ImageOrientationPatient, "
                "so the slices cannot be stacked into a volume",
            )
        if plane.pixel_spacing is None:
            raise InputError(folder, f"{plane.label} has no PixelSpacing")


_SPLITS = (  # attribute, what several values mean, unit, one of them
    ("EchoTime", "echoes", " ms", "echo"),
    ("EchoNumbers", "echoes", "", "echo"),
    ("TemporalPositionIdentifier", "time points", "", "time point"),
    ("TemporalPositionIndex", "time points", "", "time point"),
)


def _check_repeats(folder: Path, planes: list[SlicePlane], duplicates: bool) -> None:
    """Several echoes or time points in one series: refused even at distinct positions."""
    where = " at the same slice positions" if duplicates else ""
    for key, what, unit, one in _SPLITS:
        values = _distinct(planes, key)
        if len(values) > 1:
            raise InputError(
                folder,
                f"holds {len(values)} {what} ({key} {_values_text(values)}{unit}){where}; "
                f"put each {one} in its own folder",
            )


def _check_duplicates(folder: Path, planes: list[SlicePlane], order: list[int], gaps) -> None:
    if not np.any(gaps < DUPLICATE_DISTANCE):
        return
    for key, kind in _REPEATS.items():
        values = _distinct(planes, key)
        if len(values) > 1:
            raise InputError(
                folder,
                f"holds {len(values)} {kind} ({key} {_values_text(values)}) at the same slice "
                "positions; put each in its own folder",
            )
    i = int(np.argmax(gaps < DUPLICATE_DISTANCE))
    first, second = planes[order[i]], planes[order[i + 1]]
    raise InputError(
        folder,
        f"{first.label} and {second.label} lie at the same slice position "
        f"{_mm(first.position)}; remove the duplicate slice",
    )


def _check_straight(folder: Path, planes: list[SlicePlane], normal: np.ndarray) -> None:
    """Every slice's corner on one line along the normal (no gantry tilt, no shear)."""
    corners = np.array([p.position for p in planes], dtype=np.float64)
    in_plane = corners - np.outer(corners @ normal, normal)
    offset = float(np.max(np.linalg.norm(in_plane - in_plane[0], axis=1)))
    tolerance = max(DUPLICATE_DISTANCE, 0.01 * min(planes[0].pixel_spacing))
    if offset > tolerance:
        raise InputError(
            folder,
            f"slices are shifted within their plane from one to the next (up to {offset:.3g} mm; "
            "gantry tilt or a sheared stack), so they do not form a rectilinear volume; "
            "resample the series onto an untilted grid first",
        )


def _check_spacing(folder: Path, planes: list[SlicePlane], order: list[int], gaps) -> float:
    """The uniform distance between neighbouring slices; gaps and uneven spacing are refused."""
    if len(gaps) == 0:  # one positioned slice: its declared spacing, else 1 mm, as GDCM/ITK read it
        declared = planes[0].tags.get("SpacingBetweenSlices")
        return float(declared) if declared not in (None, "") and float(declared) > 0 else 1.0
    step = float(np.median(gaps))
    tolerance = max(DUPLICATE_DISTANCE, 0.01 * step)
    off = np.abs(gaps - step) > tolerance
    if not np.any(off):
        return float(np.mean(gaps))
    i = int(np.argmax(off))
    first, second = planes[order[i]].label, planes[order[i + 1]].label
    missing = round(gaps[i] / step) - 1
    if missing >= 1 and abs(gaps[i] - (missing + 1) * step) <= tolerance:
        raise InputError(
            folder,
            f"{missing} slice(s) missing between {first} and {second} (a {gaps[i]:.4g} mm gap "
            f"where slices are {step:.4g} mm apart); MedUE needs the complete series",
        )
    raise InputError(
        folder,
        f"slice spacing is not uniform ({gaps.min():.4g} to {gaps.max():.4g} mm; "
        f"{gaps[i]:.4g} mm between {first} and {second}); MedUE needs evenly spaced slices",
    )


def _geometry(first: SlicePlane, normal: np.ndarray, spacing: float) -> Geometry:
    row, column = _cosines(first.orientation)
    direction = np.column_stack([row, column, normal])  # x (along a row), y (down), z (normal)
    row_spacing, column_spacing = first.pixel_spacing
    return Geometry(
        spacing=(float(column_spacing), float(row_spacing), float(spacing)),
        origin=tuple(float(v) for v in first.position),
        direction=tuple(float(v) for v in direction.ravel()),
    )


def _flat_geometry(plane: SlicePlane) -> Geometry:
    """A single image with no patient position (radiograph, photo): a one-slice grid at 0."""
    row_spacing, column_spacing = plane.pixel_spacing or (1.0, 1.0)
    return Geometry(
        spacing=(float(column_spacing), float(row_spacing), 1.0),
        origin=(0.0, 0.0, 0.0),
        direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
    )


def _cosines(orientation) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(orientation, dtype=np.float64)
    row, column = values[:3], values[3:]
    return row / np.linalg.norm(row), column / np.linalg.norm(column)


def _normal(orientation) -> np.ndarray:
    row, column = _cosines(orientation)
    normal = np.cross(row, column)
    return normal / np.linalg.norm(normal)


def _distinct(planes: list[SlicePlane], key: str) -> list:
    values = [p.tags.get(key) for p in planes if p.tags.get(key) is not None]
    return sorted(set(values), key=lambda v: (str(type(v)), v))


def _same_iop(a, b) -> bool:
    return np.allclose(a, b, rtol=0, atol=ORIENTATION_TOLERANCE)


def _same_ps(a, b) -> bool:
    return np.allclose(a, b, rtol=1e-4, atol=0)


def _values_text(values: list) -> str:
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:5])
    return shown + (", ..." if len(values) > 5 else "")


def _size_text(size) -> str:
    return f"{size[0]}x{size[1]}"


def _iop_text(orientation) -> str:
    return "\\".join(f"{v:g}" for v in orientation) if orientation else "none"


def _ps_text(spacing) -> str:
    return "\\".join(f"{v:g}" for v in spacing) if spacing else "none"


def _mm(position) -> str:
    return "(" + ", ".join(f"{v:g}" for v in position) + " mm)"
