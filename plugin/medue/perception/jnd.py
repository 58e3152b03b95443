"""How visible a change is to a reader, in just-noticeable differences (JND), display-referred.

"Would a radiologist see this protection?" for an original and a protected image in native
units, read at a clinical window on a stated display at a stated zoom. A visible-difference
model in the line of Daly's Visible Differences Predictor (in *Digital Images and Human Vision*,
MIT Press, 1993) and Watson's DCTune masking (1993), built on two standards colour-science
implements: the DICOM GSDF (PS3.14) for the display, Barten's (1999) CSF for the eye.

1. Window -> 8-bit grey levels, rounded, both images -> luminance by the GSDF (``display``);
2. octave bands x 4 orientations of the luminance change and of the original (``bands``);
3. local band-limited contrast over Barten's threshold at each band's frequency and local
   luminance, divided by the threshold elevation from the original's own local energy in the
   same channel (noise and texture masking), pooled per patch and over channels (``model``).

1 JND = the change is seen half the time by the standard observer of Barten's model (binocular,
20-30 years, good vision) in the worst ``patch_degrees`` patch. Not modelled: the oblique effect,
flicker (a two-frame toggle), the viewer's zoom interpolation (zoom is a change of visual angle:
pixel replication), cross-orientation and cross-frequency masking. Near the Nyquist frequency the
change is counted as its samples: a one-voxel checkerboard's visible fundamental on square pixels
carries about two thirds of that energy, split between the two diagonals, so such a pattern is
over-estimated by about 1.2x (the safe side for a protection tool). Parameters, their
calibration and the tests that pin them: docs/METHODS.md, "JND (display-referred visibility)".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from medue.intensity import Window
from medue.perception.display import Display, grey_levels
from medue.perception.model import levels_jnd

__all__ = ["JndParameters", "JndResult", "jnd_slice", "jnd_views", "jnd_volume"]


@dataclass(frozen=True)
class JndParameters:
    """The model's free parameters (docs/METHODS.md, "JND (display-referred visibility)").

    ``masking_exponent`` (w): slope of threshold elevation against the mask's amplitude, log-log
    (1 = Weber: noise masks); ``masking_threshold``: mask amplitude, in JND, where elevation
    starts; ``masking_pool``: Gaussian SD of the mask's energy pooling, in periods of the band;
    ``band_exponent`` (beta): Minkowski exponent over channels and over patches;
    ``patch_degrees``: side of a patch in degrees of visual angle (also Barten's object size
    X_0); ``bands``: octave bands from 0.5 cycles/pixel down; ``orientations``: 1 or >= 3.
    ``ValueError`` for values out of range.
    """

    masking_exponent: float = 1.0
    masking_threshold: float = 1.0
    masking_pool: float = 1.0
    band_exponent: float = 4.0
    patch_degrees: float = 1.0
    bands: int = 8
    orientations: int = 4

    def __post_init__(self) -> None:
        if not (0 <= self.masking_exponent <= 1 and self.masking_threshold > 0):
            raise ValueError(f"masking parameters out of range: {self}")
        if not (self.masking_pool >= 0 and self.band_exponent >= 1 and self.patch_degrees > 0):
            raise ValueError(f"pooling parameters out of range: {self}")
        if not (1 <= self.bands <= 8 and (self.orientations == 1 or self.orientations >= 3)):
            raise ValueError(f"need 1-8 bands and 1 or >= 3 orientations: {self}")


@dataclass(frozen=True)
class JndResult:
    """Visibility of one change at one window and zoom.

    ``worst``: JND of the most visible patch (1 = at threshold); ``pooled``: Minkowski mean of
    all patches' JND (equal to ``worst`` for a change that is the same everywhere); ``patch``:
    the worst patch as (y0, x0, y1, x1) image pixels, end exclusive, on axial slice
    ``slice_index`` (None for a 2D input); ``band_jnd``: that patch's JND per octave band, at
    ``band_cycles_per_degree``.
    """

    worst: float
    pooled: float
    window: str
    zoom: float
    patch: tuple[int, int, int, int]
    slice_index: int | None = None
    band_cycles_per_degree: tuple[float, ...] = field(default=())
    band_jnd: tuple[float, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (lists for tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def jnd_slice(
    original: np.ndarray,
    protected: np.ndarray,
    window: Window,
    display: Display | None = None,
    zoom: float = 1.0,
    parameters: JndParameters | None = None,
) -> JndResult:
    """JND of ``protected - original`` on one 2D slice (native units, shape (H, W), H, W >= 2).

    ``window``: the clinical window it is read at (native low/high); ``display``: default
    ``Display()`` (0.21 mm, 0.5-350 cd/m², 50 cm); ``zoom``: display pixels per image pixel.
    Both images are windowed and rounded to grey levels first: a change that rounds away, or
    lies outside the window on both images, scores 0. ``ValueError`` for mismatched shapes,
    non-2D input, a non-positive zoom or a slice smaller than 2x2.
    """
    original, protected = _pair(original, protected, (2,))
    before = grey_levels(original, window)
    after = grey_levels(protected, window)
    return _result(before, after, window, display or Display(), zoom, parameters, None)


CONTEXT_PIXELS = 64  # image pixels kept around the change: the masker's and the bands' context
BOX_MULTIPLE = 32  # box sides are rounded up to this, so slices share cached transforms


def _changed_box(before: np.ndarray, after: np.ndarray) -> tuple[slice, slice]:
    """The box of displayed pixels that differ, grown by ``CONTEXT_PIXELS`` on every side and
    to a multiple of ``BOX_MULTIPLE`` (within the image)."""
    rows, cols = np.nonzero(before != after)
    if rows.size == 0:
        return slice(None), slice(None)
    box = []
    for found, n in ((rows, before.shape[0]), (cols, before.shape[1])):
        start = max(0, int(found.min()) - CONTEXT_PIXELS)
        stop = min(n, int(found.max()) + CONTEXT_PIXELS + 1)
        side = min(n, -(-(stop - start) // BOX_MULTIPLE) * BOX_MULTIPLE)
        start = min(start, n - side)
        box.append(slice(start, start + side))
    return box[0], box[1]


def jnd_volume(
    original: np.ndarray,
    protected: np.ndarray,
    window: Window,
    display: Display | None = None,
    zoom: float = 1.0,
    parameters: JndParameters | None = None,
) -> JndResult:
    """The worst axial slice of a (z, y, x) volume, as ``jnd_slice`` scores it (2D: the slice).

    Only slices whose displayed grey levels differ are scored (about 0.1-0.3 s each for
    512x512 on one core); ``slice_index`` names the worst. A volume whose change rounds away
    everywhere scores 0 on slice 0. ``ValueError`` as ``jnd_slice``, for 2D or 3D input.
    """
    original, protected = _pair(original, protected, (2, 3))
    if original.ndim == 2:
        return jnd_slice(original, protected, window, display, zoom, parameters)
    display = display or Display()
    worst: JndResult | None = None
    for index in range(original.shape[0]):
        before = grey_levels(original[index], window)
        after = grey_levels(protected[index], window)
        if worst is not None and np.array_equal(before, after):
            continue
        result = _result(before, after, window, display, zoom, parameters, index)
        if worst is None or result.worst > worst.worst:
            worst = result
    assert worst is not None  # a 3D array of at least 2x2 slices has a slice
    return worst if worst.worst > 0 else replace(worst, slice_index=0)


def jnd_views(
    original: np.ndarray,
    protected: np.ndarray,
    windows: Mapping[str, Window] | Iterable[Window],
    zooms: Iterable[float] = (1, 2, 4),
    display: Display | None = None,
    parameters: JndParameters | None = None,
) -> dict[str, dict[str, JndResult]]:
    """``jnd_volume`` at every window and zoom: ``{window name: {"1x": result, "2x": ...}}``.

    ``windows``: a mapping name -> Window, or Windows (keyed by their ``name``); 2D or 3D input.
    """
    named = dict(windows) if isinstance(windows, Mapping) else {w.name: w for w in windows}
    return {
        name: {
            f"{zoom:g}x": jnd_volume(original, protected, window, display, zoom, parameters)
            for zoom in zooms
        }
        for name, window in named.items()
    }


def jnd_summary(
    original: np.ndarray,
    protected: np.ndarray,
    window: Window,
    display: Display | None = None,
    others: Iterable[Window] = (),
) -> dict[str, object]:
    """What a record shows: the worst patch's JND at 1x, 2x and 4x zoom at ``window`` (the
    reading window presets are held to) on ``display`` (default ``Display()``), 2D or 3D input in
    native units, where that patch is at 1x (``worst_patch``: ``slice``, ``box`` (y0, x0, y1, x1)
    image pixels), and the same three numbers at every window in ``others`` (``windows``), e.g.
    ``{"window": "CT soft_tissue", "display": "...", "1x": 0.4, "2x": 1.3, "4x": 2.6,
    "worst_patch": {...}, "windows": {"CT soft_tissue": {...}, "CT lung": {...}}}``."""
    display = display or Display()
    named = {w.name: w for w in (window, *others)}
    views = jnd_views(original, protected, named, (1, 2, 4), display)
    where = (
        f"display pixel pitch {display.pitch_mm:g} mm, "
        f"{display.luminance_min:g}-{display.luminance_max:g} "
        f"cd/m2 (DICOM GSDF), {display.distance_mm / 10:g} cm"
    )
    at_window = views[window.name]
    worst = at_window["1x"]
    return (
        {"window": window.name, "display": where}
        | {zoom: result.worst for zoom, result in at_window.items()}
        | {"worst_patch": {"slice": worst.slice_index, "box": list(worst.patch)}}
        | {"windows": {name: {z: r.worst for z, r in v.items()} for name, v in views.items()}}
    )


def _pair(
    original: np.ndarray, protected: np.ndarray, dims: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    original = np.asarray(original)
    protected = np.asarray(protected)
    if original.shape != protected.shape or original.ndim not in dims:
        raise ValueError(
            f"need two {' or '.join(f'{d}D' for d in dims)} arrays of one shape, "
            f"got {original.shape} and {protected.shape}"
        )
    if min(original.shape[-2:]) < 2:
        raise ValueError(f"need slices of at least 2x2 pixels, got shape {original.shape}")
    return original, protected


def _result(
    before: np.ndarray,
    after: np.ndarray,
    window: Window,
    display: Display,
    zoom: float,
    parameters: JndParameters | None,
    slice_index: int | None,
) -> JndResult:
    p = parameters or JndParameters()
    box = _changed_box(before, after)
    pooled = levels_jnd(
        before[box],
        after[box],
        display,
        zoom,
        masking_exponent=p.masking_exponent,
        masking_threshold=p.masking_threshold,
        masking_pool=p.masking_pool,
        beta=p.band_exponent,
        patch_degrees=p.patch_degrees,
        bands=p.bands,
        orientations=p.orientations,
    )
    y0, x0 = box[0].start or 0, box[1].start or 0
    y1, x1 = pooled.patch[0] + y0, pooled.patch[1] + x0
    return JndResult(
        worst=pooled.worst,
        pooled=pooled.pooled,
        window=window.name,
        zoom=float(zoom),
        patch=(y1, x1, pooled.patch[2] + y0, pooled.patch[3] + x0),
        slice_index=slice_index,
        band_cycles_per_degree=pooled.band_cycles_per_degree,
        band_jnd=pooled.band_jnd,
    )
