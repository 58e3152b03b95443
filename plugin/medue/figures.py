"""The report's pictures: what a reader sees of the change, at the clinical window.

``case_figure``: original | protected | amplified difference, cropped around the ROI on the
axial slice where the perturbation covers most voxels; the difference panel maps -eps..+eps to
black..white (mid-grey = unchanged). ``zoom_figure``: original | protected around the most
visible patch the JND model found (``medue.perception``), at 1x (one image pixel per screen
pixel) and at 4x (pixel replication, as a viewer's zoom), so a reader can look where the model
says the change is easiest to see. PNGs are written with SimpleITK: no plotting library needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medue.intensity import Window
from medue.io.atomic import atomic_path

MIN_CROP = 96
PANEL_SIZE = 256
ZOOM_SIDE = 128  # screen pixels of each zoom panel: 128 image pixels at 1x, 32 at 4x
SEPARATOR = 4  # white screen pixels between panels


def case_figure(
    original: np.ndarray,
    protected: np.ndarray,
    window: Window,
    epsilon: float,
    path: Path,
    inverted: bool = False,
    show_mask: bool = False,
) -> Path:
    """Write the three-panel PNG for one case (arrays in native units, 2D or (z, y, x)); with
    ``show_mask`` a fourth panel shows where the change is (white = changed voxel), for methods
    that choose their voxels (SALM's top K).

    ``inverted`` shows high values dark, as a viewer shows a DICOM MONOCHROME1 image (PS3.3
    C.7.6.3.1.2); the stored values are never inverted, only the picture.
    """
    original = np.asarray(original, dtype=np.float64)
    protected = np.asarray(protected, dtype=np.float64)
    if original.ndim == 2:
        original, protected = original[np.newaxis], protected[np.newaxis]
    change = protected - original
    z = int(np.argmax(np.count_nonzero(change, axis=(1, 2))))
    crop = _crop_box(change[z] != 0)
    shown = (lambda grey: 1.0 - grey) if inverted else (lambda grey: grey)
    panels = [
        _to_grey(shown(window.normalise(original[z][crop]))),
        _to_grey(shown(window.normalise(protected[z][crop]))),
        _to_grey(np.clip(0.5 + change[z][crop] / (2.0 * max(epsilon, 1e-12)), 0.0, 1.0)),
    ]
    if show_mask:
        panels.append(_to_grey((change[z][crop] != 0).astype(np.float64)))
    montage = np.concatenate([_enlarge(p) for p in panels], axis=1)
    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.GetImageFromArray(montage), str(tmp))
    return path


def _crop_box(changed: np.ndarray) -> tuple[slice, slice]:
    if not changed.any():
        return (slice(None), slice(None))
    coords = np.argwhere(changed)
    centre = (coords.min(axis=0) + coords.max(axis=0)) // 2
    extent = max(MIN_CROP, int((coords.max(axis=0) - coords.min(axis=0)).max()) + 32)
    slices = []
    for c, n in zip(centre, changed.shape, strict=True):
        lo = int(np.clip(c - extent // 2, 0, max(n - extent, 0)))
        slices.append(slice(lo, min(n, lo + extent)))
    return tuple(slices)


def _to_grey(unit: np.ndarray) -> np.ndarray:
    return np.round(np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8)


def _enlarge(panel: np.ndarray) -> np.ndarray:
    factor = max(1, PANEL_SIZE // max(panel.shape))
    return np.kron(panel, np.ones((factor, factor), dtype=np.uint8))


def zoom_figure(
    original: np.ndarray,
    protected: np.ndarray,
    window: Window,
    worst_patch: dict,
    path: Path,
    inverted: bool = False,
) -> Path:
    """Write original | protected at 1x, then original | protected at 4x, centred on
    ``worst_patch`` (``{"slice": z or None, "box": [y0, x0, y1, x1]}`` image pixels, as
    ``medue.perception.jnd_summary`` records it); arrays in native units, 2D or (z, y, x)."""
    original = np.asarray(original, dtype=np.float64)
    protected = np.asarray(protected, dtype=np.float64)
    if original.ndim == 3:
        z = int(worst_patch.get("slice") or 0)
        original, protected = original[z], protected[z]
    y0, x0, y1, x1 = worst_patch["box"]
    centre = ((y0 + y1) // 2, (x0 + x1) // 2)
    shown = (lambda grey: 1.0 - grey) if inverted else (lambda grey: grey)
    panels = []
    for zoom in (1, 4):
        box = _box_around(centre, ZOOM_SIDE // zoom, original.shape)
        for values in (original, protected):
            grey = _to_grey(shown(window.normalise(values[box])))
            panels.append(_pad(np.kron(grey, np.ones((zoom, zoom), dtype=np.uint8))))
    gap = np.full((ZOOM_SIDE, SEPARATOR), 255, dtype=np.uint8)
    montage = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.GetImageFromArray(montage), str(tmp))
    return path


def zoom_figure_name(figure: str) -> str:
    """The zoomed crops' file beside a case figure: ``figures/a.png`` -> ``figures/a_zoom.png``."""
    stem, dot, suffix = figure.rpartition(".")
    return f"{stem}_zoom.{suffix}" if dot else f"{figure}_zoom"


def _box_around(centre: tuple[int, int], side: int, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """A ``side`` x ``side`` box around ``centre``, moved inside the image (smaller if it is)."""
    boxes = []
    for c, n in zip(centre, shape[-2:], strict=True):
        lo = int(np.clip(c - side // 2, 0, max(n - side, 0)))
        boxes.append(slice(lo, min(n, lo + side)))
    return boxes[0], boxes[1]


def _pad(panel: np.ndarray) -> np.ndarray:
    """A panel on a ZOOM_SIDE square (black beyond the image's edge)."""
    square = np.zeros((ZOOM_SIDE, ZOOM_SIDE), dtype=np.uint8)
    square[: panel.shape[0], : panel.shape[1]] = panel[:ZOOM_SIDE, :ZOOM_SIDE]
    return square
