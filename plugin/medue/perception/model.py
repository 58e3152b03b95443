"""The visible-difference model on one pair of displayed slices (grey levels), and its pooling.

For each octave band b (``medue.perception.bands``) and orientation o:

- the luminance change ``dL`` and the original luminance ``L0`` are filtered by the band, the
  orientation and the CSF's shape inside the band, ``S(f) / S(f_b)`` (Barten at the luminance
  where the change is), so a pattern is judged at its own frequency, not at its band's centre;
- both are turned into local band-limited contrast (Peli, JOSA A 7(10), 1990): divided by the
  original's luminance low-passed below the band, ``L_low,b`` (cd/m², at least the display's
  black), and into threshold units by Barten's sensitivity at the band's centre and that local
  luminance: the change's response ``d`` (1 = a sinusoid of this amplitude is at threshold);
- the original's local amplitude in the channel, ``M`` (its envelope from the quadrature pair,
  pooled by a Gaussian of ``masking_pool`` periods of the band, contrast capped at 1), raises the
  threshold by ``E = max(1, (M / masking_threshold)^masking_exponent)`` (Watson, "DCTune", SID
  Digest 24, 1993; exponent 1 = Weber masking by noise, Legge, Kersten & Burgess, JOSA A 4(2),
  1987, and the unlearned-mask slope of Daly, "The Visible Differences Predictor", 1993);
- ``u = d / E``.

Pooling: in each square patch of ``patch_degrees`` (half-overlapping), each channel's amplitude
``A = sqrt(2 * mean(u²))`` (a grating filling the patch scores its amplitude over threshold),
then the Minkowski sum ``J = (sum over channels A^beta)^(1/beta)`` (probability summation,
Quick 1974, Watson 1979). Barten's CSF is taken for an object of the patch's size (X_0). Reported:
the worst patch, the Minkowski mean (same beta) over patches, and the worst patch's per-band J.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from medue.perception.bands import (
    MAX_FACTOR,
    Spectrum,
    band_centres,
    band_filters,
    orientation_filters,
    quadrature_multipliers,
)
from medue.perception.csf import LuminanceTable, sensitivity
from medue.perception.display import Display

__all__ = ["Pooled", "levels_jnd", "orientation_gain", "patch_pixels"]


@dataclass(frozen=True)
class Pooled:
    """What ``levels_jnd`` measures: worst patch (y0, x0, y1, x1), its JND, mean JND, per band."""

    worst: float
    pooled: float
    patch: tuple[int, int, int, int]
    band_cycles_per_degree: tuple[float, ...]
    band_jnd: tuple[float, ...]


def patch_pixels(patch_degrees: float, pixel_degrees: float, shape: tuple[int, int]) -> int:
    """Side of a patch in image pixels: ``patch_degrees`` of visual angle, 2 .. min(shape)."""
    return max(2, min(round(patch_degrees / pixel_degrees), *shape))


def levels_jnd(
    before: np.ndarray,
    after: np.ndarray,
    display: Display,
    zoom: float,
    masking_exponent: float,
    masking_threshold: float,
    masking_pool: float,
    beta: float,
    patch_degrees: float,
    bands: int,
    orientations: int,
) -> Pooled:
    """The model on two grey-level images (integers 0..255, shape (H, W), H, W >= 2)."""
    degrees = display.pixel_degrees(zoom)
    patch = patch_pixels(patch_degrees, degrees, before.shape)
    field_degrees = patch * degrees
    centres = band_centres(bands)
    cpd = tuple(float(c) for c in centres / degrees)
    if np.array_equal(before, after):
        return Pooled(0.0, 0.0, (0, 0, patch, patch), cpd, (0.0,) * bands)
    table = display.level_luminance_table()
    lum0 = table[before]
    change = table[after] - lum0
    spectrum, filters, angular, quadrature = _transforms(before.shape, bands, orientations)
    lum0_hat = spectrum.forward(lum0)
    change_hat = spectrum.forward(change)
    reference = float(lum0[change != 0].mean())  # the luminance where the change is
    shape = _csf_on_grid(spectrum.frequency / degrees, reference, field_degrees)
    centre_s = sensitivity(np.array(cpd), reference, field_degrees)
    local_s = _luminance_table(cpd, field_degrees)
    gain = np.float32(orientation_gain(orientations, beta))
    below = np.zeros_like(filters[0])
    below[spectrum.frequency == 0] = 1.0  # the mean, then every band below the current one
    energies: list[list[np.ndarray]] = []
    for b in range(bands - 1, -1, -1):
        level = spectrum.level(min(MAX_FACTOR, 2 ** max(0, b - 1)))  # band b stays < 2^-b
        weight = level.crop(filters[b] * (shape / np.float32(centre_s[b])))
        adapting = np.maximum(
            level.inverse(level.crop(lum0_hat * below)), np.float32(display.luminance_min)
        )
        sens = (local_s.lookup(b, adapting) * gain / adapting).astype(np.float32)  # JND/(cd/m²)
        change_b = level.crop(change_hat) * weight
        mask_b = level.crop(lum0_hat) * weight
        channels = []
        for orientation, multipliers in zip(angular, quadrature, strict=True):
            orientation = level.crop(orientation)
            target = level.inverse(change_b * orientation) * sens
            mask_hat = mask_b * orientation
            energy = level.inverse(mask_hat) ** 2
            for multiplier in multipliers:
                energy += level.inverse(mask_hat * level.crop(multiplier)) ** 2
            if masking_pool > 0:
                energy = level.blur(energy, masking_pool / centres[b])
            mask = np.minimum(np.sqrt(energy) * sens, sens * adapting)  # contrast <= 1
            elevation = np.maximum(1.0, (mask / masking_threshold) ** masking_exponent)
            channels.append(level.image((target / elevation) ** 2))
        energies.append(channels)
        below = below + filters[b] ** 2
    energies.reverse()  # descending frequency, like ``centres``
    return _pool(energies, patch, cpd, beta)


def orientation_gain(orientations: int, beta: float) -> float:
    """1 / the Minkowski norm, over channels, of the orientation filters at a channel's centre.

    The filters share a grating's energy (their squares sum to one), and the Minkowski sum
    (beta > 2) of the shares is below one: 0.71 for 4 orientations and beta 4. Multiplying the
    sensitivity by this gain makes a grating on a channel's orientation and a band's centre score
    exactly its Barten JND (``tests/test_jnd.py``); masked responses are unchanged by it.
    """
    if orientations == 1:
        return 1.0
    shares = (
        np.sqrt(8.0 / (3.0 * orientations))
        * np.cos(np.arange(orientations) * np.pi / orientations) ** 2
    )
    return float(1.0 / (shares**beta).sum() ** (1.0 / beta))


@lru_cache(maxsize=16)
def _luminance_table(cycles_per_degree: tuple[float, ...], field_degrees: float) -> LuminanceTable:
    """``LuminanceTable`` per band frequencies and field (cached: it depends on the zoom only)."""
    return LuminanceTable(np.array(cycles_per_degree), field_degrees)


@lru_cache(maxsize=16)
def _transforms(
    shape: tuple[int, int], bands: int, orientations: int
) -> tuple[Spectrum, np.ndarray, np.ndarray, list[list[np.ndarray]]]:
    """FFT plan, band, orientation and quadrature filters for one slice shape (cached)."""
    spectrum = Spectrum(shape)
    return (
        spectrum,
        band_filters(spectrum.frequency, band_centres(bands)),
        orientation_filters(spectrum, orientations),
        quadrature_multipliers(spectrum, orientations),
    )


def _csf_on_grid(cycles_per_degree: np.ndarray, luminance: float, field: float) -> np.ndarray:
    """Barten's sensitivity on the spectrum's grid, via a 1D radial profile (float32)."""
    grid = np.linspace(0.0, float(cycles_per_degree.max()), 2048)
    profile = sensitivity(grid, luminance, field)
    return np.interp(cycles_per_degree, grid, profile).astype(np.float32)


def _pool(
    energies: list[list[np.ndarray]], patch: int, cpd: tuple[float, ...], beta: float
) -> Pooled:
    """Channel amplitudes per patch, Minkowski over channels; worst patch and mean of all.

    ``energies[band][orientation]``: squared threshold-unit response per pixel, (H, W).
    """
    rows, cols = energies[0][0].shape
    stride = max(1, patch // 2)
    ys = _starts(rows, patch, stride)
    xs = _starts(cols, patch, stride)
    per_band = np.stack(
        [
            sum(np.sqrt(2.0 * _box_means(e, patch, ys, xs)) ** beta for e in channels)
            for channels in energies
        ]
    )  # (band, patch row, patch col): sum over orientations of amplitude^beta
    per_patch = per_band.sum(axis=0) ** (1.0 / beta)
    iy, ix = np.unravel_index(int(np.argmax(per_patch)), per_patch.shape)
    y0, x0 = int(ys[iy]), int(xs[ix])
    return Pooled(
        worst=float(per_patch[iy, ix]),
        pooled=float(np.mean(per_patch**beta) ** (1.0 / beta)),
        patch=(y0, x0, min(y0 + patch, rows), min(x0 + patch, cols)),
        band_cycles_per_degree=cpd,
        band_jnd=tuple(float(v) ** (1.0 / beta) for v in per_band[:, iy, ix]),
    )


def _starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Patch origins along one axis: every ``stride``, and one flush with the far edge."""
    starts = list(range(0, max(1, length - patch + 1), stride))
    if starts[-1] != max(0, length - patch):
        starts.append(max(0, length - patch))
    return np.array(starts)


def _box_means(image: np.ndarray, patch: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Mean of ``image`` over each ``patch`` x ``patch`` box at origins ``ys`` x ``xs``.

    Sums over the segments between consecutive patch edges (``np.add.reduceat``), then an
    integral image on that coarse grid: one pass over the pixels.
    """
    ends = [np.minimum(ys + patch, image.shape[0]), np.minimum(xs + patch, image.shape[1])]
    sums = image
    edges = []
    for axis, (starts, stop) in enumerate(zip((ys, xs), ends, strict=True)):
        length = image.shape[axis]
        cuts = np.unique(np.concatenate([starts, stop, [length]]))
        cuts = cuts[cuts < length]
        sums = np.add.reduceat(sums, cuts, axis=axis, dtype=np.float64)
        edges.append(np.append(cuts, length))
    integral = np.zeros((sums.shape[0] + 1, sums.shape[1] + 1))
    integral[1:, 1:] = sums.cumsum(axis=0).cumsum(axis=1)
    y0, y1 = (np.searchsorted(edges[0], v) for v in (ys, ends[0]))
    x0, x1 = (np.searchsorted(edges[1], v) for v in (xs, ends[1]))
    total = (
        integral[np.ix_(y1, x1)]
        - integral[np.ix_(y0, x1)]
        - integral[np.ix_(y1, x0)]
        + integral[np.ix_(y0, x0)]
    )
    return total / np.outer(ends[0] - ys, ends[1] - xs)
