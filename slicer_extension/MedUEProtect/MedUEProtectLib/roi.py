"""The ROI the panel sends: a voxel box from a markups ROI or a segment, or the server's labels.

Voxel boxes are ``[z0, y0, x0, z1, y1, x1]`` with exclusive ends, indexing the image as stored
(numpy order ``[k, j, i]`` of Slicer's IJK: ``x`` is ``i``, the fastest axis of the file). Slicer
gives a volume's geometry as its 4x4 IJK-to-RAS matrix (RAS: right, anterior, superior, in mm;
voxel centres at integer IJK) and a markups ROI as its size in mm and its object-to-world matrix
(the box is centred on the object's origin, along its axes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from MedUEProtectLib.errors import RequestRefused

Box = list  # [z0, y0, x0, z1, y1, x1], ints, ends exclusive


def box_from_mask(mask: np.ndarray, margin: int = 0) -> Box:
    """The smallest box holding every non-zero voxel of ``mask`` ((z, y, x), e.g. a segment's
    binary labelmap on the volume's grid), grown by ``margin`` voxels and kept in the image.
    RequestRefused if the mask is empty."""
    array = np.asarray(mask)
    if array.ndim != 3:
        raise RequestRefused(f"a segment mask must be 3D (z, y, x), got {array.ndim}D")
    found = np.nonzero(array)
    if found[0].size == 0:
        raise RequestRefused("the segment is empty on this volume: paint it, or pick another")
    starts = [int(axis.min()) - margin for axis in found]
    ends = [int(axis.max()) + 1 + margin for axis in found]
    return clip_box(starts + ends, array.shape)


def box_from_roi(
    size_mm: Sequence[float],
    object_to_ras: np.ndarray | Sequence[Sequence[float]],
    ijk_to_ras: np.ndarray | Sequence[Sequence[float]],
    shape: Sequence[int],
    margin: int = 0,
) -> Box:
    """The smallest voxel box holding a markups ROI: its 8 corners (``±size/2`` along each of
    its axes, through ``object_to_ras``) mapped to IJK with the inverse of ``ijk_to_ras``; every
    voxel whose centre lies within their IJK extent is in the box. ``shape`` is the volume's
    (z, y, x) voxel counts; the box is grown by ``margin`` voxels. An ROI turned against the
    voxel grid gets the box around it. RequestRefused if the ROI misses the volume."""
    half = np.asarray(size_mm, dtype=float) / 2.0
    if half.shape != (3,) or not np.all(np.isfinite(half)) or np.any(half < 0):
        raise RequestRefused(f"the ROI's size must be three lengths in mm, got {list(size_mm)}")
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners = np.c_[signs * half, np.ones(8)].T  # 4 x 8, object coordinates
    ras = _matrix(object_to_ras, "the ROI's object-to-world") @ corners
    box = box_from_ras_points(ras[:3].T, ijk_to_ras, shape)
    return clip_box([v - margin for v in box[:3]] + [v + margin for v in box[3:]], shape)


def box_from_ras_bounds(
    bounds: Sequence[float], ijk_to_ras: np.ndarray | Sequence[Sequence[float]],
    shape: Sequence[int],
) -> Box:  # fmt: skip
    """The box holding RAS bounds ``[r_min, r_max, a_min, a_max, s_min, s_max]`` (mm, e.g.
    a segment's ``GetBounds``)."""
    r, a, s = bounds[0:2], bounds[2:4], bounds[4:6]
    points = np.array([[x, y, z] for x in r for y in a for z in s], dtype=float)
    return box_from_ras_points(points, ijk_to_ras, shape)


def box_from_ras_points(
    points: np.ndarray, ijk_to_ras: np.ndarray | Sequence[Sequence[float]],
    shape: Sequence[int],
) -> Box:  # fmt: skip
    """The voxel box whose voxel centres lie within the IJK extent of RAS ``points`` (n x 3)."""
    to_ijk = np.linalg.inv(_matrix(ijk_to_ras, "the volume's IJK-to-RAS"))
    points = np.asarray(points, dtype=float)
    ijk = (to_ijk @ np.c_[points, np.ones(len(points))].T)[:3]
    low, high = ijk.min(axis=1), ijk.max(axis=1)
    tolerance = 1e-6  # a face exactly on a voxel centre keeps that voxel
    starts = [math.ceil(v - tolerance) for v in low]  # i, j, k
    ends = [math.floor(v + tolerance) + 1 for v in high]
    box = [starts[2], starts[1], starts[0], ends[2], ends[1], ends[0]]  # z, y, x
    return clip_box(box, shape)


def clip_box(box: Sequence[int], shape: Sequence[int]) -> Box:
    """``box`` kept within an image of ``shape`` (z, y, x); RequestRefused if nothing is left."""
    if len(box) != 6 or len(shape) != 3:
        raise RequestRefused(f"a box is z0, y0, x0, z1, y1, x1 on a 3D image, got {list(box)}")
    starts = [max(0, int(box[i])) for i in range(3)]
    ends = [min(int(shape[i]), int(box[i + 3])) for i in range(3)]
    if any(s >= e for s, e in zip(starts, ends)):
        raise RequestRefused(
            f"the ROI lies outside the volume (box {list(box)}, volume z, y, x = {list(shape)})"
        )
    return starts + ends


def labels_in(labelmap: np.ndarray) -> list[int]:
    """The label values present in a label map (0 is background), ascending."""
    return [int(v) for v in np.unique(np.asarray(labelmap)) if v != 0]


def server_label(mask: np.ndarray, labelmap: np.ndarray) -> int | None:
    """The label value whose region in the server's ``labelmap`` is exactly ``mask`` (a segment
    loaded from that label map and left as it was), else None (a segment drawn or edited here:
    send its box instead)."""
    mask, labelmap = np.asarray(mask) > 0, np.asarray(labelmap)
    if mask.shape != labelmap.shape or not mask.any():
        return None
    values = np.unique(labelmap[mask])
    if len(values) != 1 or values[0] == 0:
        return None
    value = int(values[0])
    return value if np.array_equal(labelmap == value, mask) else None


def box_roi(box: Sequence[int]) -> dict:
    """The job request's ROI for a voxel box."""
    return {"box": [int(v) for v in box]}


def labels_roi(values: Sequence[int] | None = None) -> dict | None:
    """The job request's ROI for the server's label maps: these label values, or any label
    (None: the server's default, every non-zero label)."""
    if not values:
        return None
    if any(int(v) < 1 for v in values):
        raise RequestRefused(f"label values are positive integers, got {list(values)}")
    return {"labels": sorted({int(v) for v in values})}


def _matrix(value, what: str) -> np.ndarray:
    matrix = np.asarray(value, dtype=float)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise RequestRefused(f"{what} matrix must be 4 x 4 numbers")
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise RequestRefused(f"{what} matrix is singular (a zero spacing or size?)")
    return matrix
