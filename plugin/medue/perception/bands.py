"""Octave bands of a 2D image, by FFT: isotropic log-radial raised-cosine filters.

The frequency plane (cycles per image pixel, radial ``f = sqrt(fy² + fx²)``, up to sqrt(2)/2 at
the corners) is split into ``n`` octave bands centred at ``f_k = 0.5 * 2^-k`` (k = 0..n-1) by
``H_k(f) = cos(pi/2 * log2(f / f_k))`` for ``|log2(f / f_k)| < 1``. The *squares* of
neighbouring filters sum to one (a tight frame, as in the steerable pyramid of Simoncelli &
Freeman 1995, without its orientation channels): a sinusoid's energy is shared between the two
bands it falls between and none is lost, so a pattern scores the same whatever its frequency
relative to the band centres. The top band keeps everything above 0.5 cycles/pixel (the
one-voxel checkerboard is at sqrt(2)/2), the bottom band everything below its centre except the
mean. Filters are real, even and zero-phase; ``H_k²`` sums to 1 everywhere but f = 0 (used for
low-passes).

Each band is further split into ``n`` orientations (``orientation_filters``) by
``G_k(phi) = sqrt(8 / 3n) cos²(phi - k pi / n)``, whose squares also sum to one (n >= 3), as the
four orientation channels of HDR-VDP-2 (Mantiuk et al. 2011) and the six of Daly (1993). A
channel's local amplitude (phase-invariant envelope) comes from its quadrature partner, the
Hilbert transform along the channel's direction (``quadrature_multipliers``); with one
orientation, from the Riesz transform (the monogenic signal, Felsberg & Sommer 2001).

Images are mirror-padded (``PAD``) to a fast FFT size before transforming, so the wrap-around of
the FFT does not put an edge between opposite borders of the image. A band whose frequencies
stay below ``0.5 / D`` cycles/pixel is brought back to image space on a grid ``D`` times coarser
(``Level``), as in a Laplacian or steerable pyramid.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

__all__ = [
    "Level",
    "Spectrum",
    "band_centres",
    "band_filters",
    "orientation_filters",
    "quadrature_multipliers",
    "radial_frequency",
]

PAD = 32  # pixels of mirror image around the image before the FFT (a multiple of MAX_FACTOR)
NYQUIST_TAPER = 0.125  # cycles/pixel near Nyquist where orientations blend with their alias
MAX_FACTOR = 32  # coarsest decimation of a band (image pixels per sample)


def band_centres(count: int) -> np.ndarray:
    """Centre frequencies (cycles/pixel) of ``count`` octave bands, shape (count,), descending."""
    if count < 1:
        raise ValueError(f"need at least one band, got {count}")
    return 0.5 * 2.0 ** -np.arange(count, dtype=np.float64)


def radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """Radial frequency (cycles/pixel) of each bin of ``rfft2`` of an image of ``shape``."""
    fy = scipy.fft.fftfreq(shape[0])[:, None]
    fx = scipy.fft.rfftfreq(shape[1])[None, :]
    return np.sqrt(fy * fy + fx * fx)


def band_filters(frequency: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Filters (len(centres), *frequency.shape), float32; their squares sum to 1 except at f = 0."""
    with np.errstate(divide="ignore"):
        octaves = np.log2(frequency)  # -inf at the mean
    filters = np.zeros((len(centres), *frequency.shape), dtype=np.float32)
    for k, centre in enumerate(centres):
        offset = octaves - np.log2(centre)
        inside = np.abs(offset) < 1.0
        filters[k][inside] = np.cos(np.pi / 2 * offset[inside])
        if k == 0:
            filters[k][offset >= 0] = 1.0
        if k == len(centres) - 1:
            filters[k][offset <= 0] = 1.0
    filters[:, frequency == 0] = 0.0
    return filters


def orientation_filters(spectrum: Spectrum, count: int) -> np.ndarray:
    """Angular filters (count, *rfft grid), float32, squares summing to one; ``[1]`` if count 1.

    A sampled image's spectrum is periodic: a frequency just below +0.5 cycles/pixel on one axis
    is a neighbour of -0.5, where the orientation is mirrored. A filter that changed channel
    abruptly there would ring far across the image (a one-voxel checkerboard on a vessel would
    light up patches with no change in them), so within ``NYQUIST_TAPER`` of the Nyquist frequency
    on an axis the squared filters are blended with those of the aliased frequency, reaching an
    even mix on the Nyquist line: still a tight frame, and continuous across the wrap.
    ``ValueError`` for 2 orientations (cos² filters do not tile the circle with two).
    """
    if count == 1:
        return np.ones((1, *spectrum.frequency.shape), dtype=np.float32)
    if count < 3:
        raise ValueError(f"need 1 or at least 3 orientations, got {count}")
    fy, fx = (np.broadcast_to(a, spectrum.frequency.shape) for a in spectrum.axes())
    blend_y, blend_x = (_alias_weight(np.abs(a)) for a in (fy, fx))
    alias_y, alias_x = (a - np.sign(a) for a in (fy, fx))  # the frequency one period away
    squared = (
        (1 - blend_y) * (1 - blend_x) * _cos4(fy, fx, count)
        + blend_y * (1 - blend_x) * _cos4(alias_y, fx, count)
        + (1 - blend_y) * blend_x * _cos4(fy, alias_x, count)
        + blend_y * blend_x * _cos4(alias_y, alias_x, count)
    )
    return np.sqrt(squared).astype(np.float32)


def _cos4(fy: np.ndarray, fx: np.ndarray, count: int) -> np.ndarray:
    """Squared cos² angular filters (count, *shape), summing to one over the channels."""
    angle = np.arctan2(fy, fx)
    scale = 8.0 / (3.0 * count)
    return np.stack([scale * np.cos(angle - k * np.pi / count) ** 4 for k in range(count)])


def _alias_weight(frequency: np.ndarray) -> np.ndarray:
    """0 below 0.5 - NYQUIST_TAPER cycles/pixel, rising smoothly to 0.5 at 0.5."""
    t = np.clip((frequency - (0.5 - NYQUIST_TAPER)) / NYQUIST_TAPER, 0.0, 1.0)
    return 0.5 * t * t * (3.0 - 2.0 * t)


def quadrature_multipliers(spectrum: Spectrum, count: int) -> list[list[np.ndarray]]:
    """Per orientation, the multipliers whose outputs complete a channel's local amplitude.

    Oriented (count >= 3): ``-i sign(f . n_k)``, the Hilbert transform along the channel's normal
    ``n_k``; isotropic (count 1): the Riesz pair ``-i f_y / |f|``, ``-i f_x / |f|``. The local
    amplitude of a channel ``m`` is ``sqrt(m² + sum_j q_j²)``: for a sinusoid, its amplitude at
    every pixel. Complex64, on the rfft grid.
    """
    fy, fx = spectrum.axes()
    if count == 1:
        radius = np.where(spectrum.frequency > 0, spectrum.frequency, 1.0)
        return [
            [(-1j * fy / radius).astype(np.complex64), (-1j * fx / radius).astype(np.complex64)]
        ]
    return [
        [
            (-1j * np.sign(fx * np.cos(k * np.pi / count) + fy * np.sin(k * np.pi / count))).astype(
                np.complex64
            )
        ]
        for k in range(count)
    ]


class Spectrum:
    """Real FFTs of 2D images of one shape, reflect-padded, with decimated inverse transforms.

    ``shape``: (rows, cols) of the images (each >= 2). ``forward`` pads an image by ``PAD``
    pixels of mirror image and transforms it (complex64 half-spectrum on a grid whose sides are
    multiples of ``2 * MAX_FACTOR``). ``level(factor)`` gives the ``Level`` that brings a filtered
    spectrum back to image space on a grid ``factor`` times coarser, which is exact for a
    spectrum with nothing above ``0.5 / factor`` cycles/pixel (the octave bands below the top
    two): this is what makes a band decomposition a pyramid, and fast. One thread
    (``workers=1``): MedUE shares its CPU with training jobs.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        if len(shape) != 2 or min(shape) < 2:
            raise ValueError(f"need a 2D image of at least 2x2 pixels, got shape {shape}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.padded = tuple(_fast_multiple(n + 2 * PAD, 2 * MAX_FACTOR) for n in self.shape)
        self.frequency = radial_frequency(self.padded)
        self._levels: dict[int, Level] = {}

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Frequencies (cycles/pixel) of the rfft grid: f_y (rows, 1) and f_x (1, cols)."""
        return (
            scipy.fft.fftfreq(self.padded[0])[:, None],
            scipy.fft.rfftfreq(self.padded[1])[None, :],
        )

    def forward(self, image: np.ndarray) -> np.ndarray:
        """``rfft2`` of ``image`` (shape ``self.shape``) mirror-padded to ``self.padded``."""
        widths = [(PAD, total - n - PAD) for n, total in zip(self.shape, self.padded, strict=True)]
        padded = np.pad(np.asarray(image, dtype=np.float32), widths, mode="reflect")
        return scipy.fft.rfft2(padded, workers=1)

    def level(self, factor: int) -> Level:
        """The ``Level`` of decimation ``factor`` (a power of two up to ``MAX_FACTOR``)."""
        if factor not in self._levels:
            self._levels[factor] = Level(self, factor)
        return self._levels[factor]


class Level:
    """One resolution of a ``Spectrum``: ``factor`` image pixels per sample along each axis."""

    def __init__(self, spectrum: Spectrum, factor: int) -> None:
        if factor < 1 or factor > MAX_FACTOR or factor & (factor - 1):
            raise ValueError(f"decimation must be a power of two up to {MAX_FACTOR}: {factor}")
        self.spectrum = spectrum
        self.factor = factor
        self.padded = tuple(n // factor for n in spectrum.padded)
        self.frequency = self.crop(spectrum.frequency)  # cycles per *image* pixel

    def crop(self, full: np.ndarray) -> np.ndarray:
        """The part of a half-spectrum (or filter) on the full grid that this level keeps."""
        rows, cols = self.padded
        if self.factor == 1:
            return full
        total = full.shape[0]
        return np.concatenate([full[: rows // 2], full[total - rows // 2 :]])[:, : cols // 2 + 1]

    def inverse(self, half: np.ndarray) -> np.ndarray:
        """Samples (float32, ``self.padded``, padding included) of a cropped half-spectrum."""
        out = scipy.fft.irfft2(half, s=self.padded, workers=1)
        return out / np.float32(self.factor**2) if self.factor > 1 else out

    def blur(self, samples: np.ndarray, sigma: float) -> np.ndarray:
        """Gaussian blur (``sigma`` in image pixels) of samples on this level's grid, >= 0."""
        transfer = np.exp(-2.0 * (np.pi * sigma * self.frequency) ** 2).astype(np.float32)
        out = scipy.fft.irfft2(scipy.fft.rfft2(samples, workers=1) * transfer, s=self.padded)
        return np.maximum(out, 0.0)

    def image(self, samples: np.ndarray) -> np.ndarray:
        """Samples on this level's grid as an image of the spectrum's ``shape`` (repeated)."""
        offset = PAD // self.factor
        rows, cols = (-(-n // self.factor) for n in self.spectrum.shape)
        core = samples[offset : offset + rows, offset : offset + cols]
        if self.factor > 1:
            core = core.repeat(self.factor, axis=0).repeat(self.factor, axis=1)
        return core[: self.spectrum.shape[0], : self.spectrum.shape[1]]


def _fast_multiple(length: int, step: int) -> int:
    """The smallest multiple of ``step`` >= ``length`` whose quotient is 2-3-5-smooth."""
    quotient = -(-length // step)
    while scipy.fft.next_fast_len(quotient, real=True) != quotient:
        quotient += 1
    return quotient * step
