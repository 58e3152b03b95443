"""Where a perturbation may go: the ROI, its contour band and interior, and a texture map.

UMed perturbs only the region of interest and along its contour (../shared/methods.md):
``band = dilate_r(ROI) - erode_r(ROI)`` and ``interior = ROI - band``. The band reaches ``r``
voxels outside the ROI, because the contour is what a segmentation model must learn. The texture
map in [0, 1] scales how much the interior may change: smooth regions (where a change is most
visible) get less than textured ones.

Morphology is in-plane (per axial slice) for 2D work and 3D for volumes, chosen by ``in_plane``:
thick-slice MR (6.5 mm here) would otherwise grow the band across slices far more than in-plane.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from medue.errors import InputError


def roi_from_label(label: np.ndarray, values: Sequence[int] | None = None) -> np.ndarray:
    """Boolean ROI: any foreground label, or only the given label values."""
    roi = label > 0 if not values else np.isin(label, list(values))
    return roi


def roi_from_box(shape: Sequence[int], box: Sequence[int]) -> np.ndarray:
    """Boolean ROI from a box given as (z0, y0, x0, z1, y1, x1) voxel indices, end exclusive."""
    ndim = len(shape)
    if len(box) != 2 * ndim:
        raise InputError(
            None, f"ROI box needs {2 * ndim} numbers for a {ndim}D image, got {len(box)}"
        )
    starts, ends = box[:ndim], box[ndim:]
    if any(s < 0 or e > n or s >= e for s, e, n in zip(starts, ends, shape, strict=True)):
        raise InputError(
            None,
            f"ROI box {list(box)} lies outside the image, whose voxel counts in the box's "
            f"axis order ({'z, y, x' if ndim == 3 else 'y, x'}) are {tuple(shape)}",
        )
    roi = np.zeros(shape, dtype=bool)
    roi[tuple(slice(s, e) for s, e in zip(starts, ends, strict=True))] = True
    return roi


def _structure(ndim: int, in_plane: bool) -> np.ndarray:
    structure = ndimage.generate_binary_structure(ndim, 1)
    if in_plane and ndim == 3:
        structure[0] = False
        structure[2] = False
    return structure


def contour_band(roi: np.ndarray, radius: int, in_plane: bool = True) -> np.ndarray:
    """Voxels within ``radius`` of the ROI boundary, on both sides."""
    if radius <= 0:
        return np.zeros_like(roi, dtype=bool)
    structure = _structure(roi.ndim, in_plane)
    dilated = ndimage.binary_dilation(roi, structure, iterations=radius)
    eroded = ndimage.binary_erosion(roi, structure, iterations=radius, border_value=1)
    return dilated & ~eroded


def interior(roi: np.ndarray, band: np.ndarray) -> np.ndarray:
    return roi & ~band


def texture_map(image: np.ndarray, region: np.ndarray, size: int = 5) -> np.ndarray:
    """Local standard deviation, scaled to [0, 1] by its 95th percentile inside ``region``.

    Texture is measured in-plane (a ``size`` x ``size`` window per slice). Outside ``region`` the
    map is 0; inside, a floor of 0.25 keeps perturbation possible in flat tissue.
    """
    texture = np.zeros(image.shape, dtype=np.float32)
    if not region.any():
        return texture
    # Only the region's box (plus half a window in-plane) is filtered: the map is 0 elsewhere.
    where = np.argwhere(region)
    margin = (0,) * (image.ndim - 2) + (size // 2, size // 2)
    box = tuple(
        slice(max(0, lo - m), min(n, hi + 1 + m))
        for lo, hi, m, n in zip(
            where.min(axis=0), where.max(axis=0), margin, image.shape, strict=True
        )
    )
    crop = np.asarray(image[box], dtype=np.float64)
    window = (1,) * (image.ndim - 2) + (size, size)
    mean = ndimage.uniform_filter(crop, window)
    variance = np.maximum(ndimage.uniform_filter(crop * crop, window) - mean * mean, 0.0)
    std = np.sqrt(variance)[region[box]]
    scale = float(np.percentile(std, 95)) or 1.0
    inside = texture[box]
    inside[region[box]] = np.clip(std / scale, 0.25, 1.0)
    return texture
