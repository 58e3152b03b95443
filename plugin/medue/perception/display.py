"""The reading room: a calibrated DICOM display seen from a stated distance, and a window on it.

A change is seen as light, not as Hounsfield units. This module turns native values into what
the reader's eye receives:

1. the clinical window maps native values linearly onto the display's 8-bit grey levels (P-values,
   DICOM PS3.14), clipped at the window's edges and **rounded** (a change smaller than half a grey
   level that does not cross a rounding boundary is not displayed at all);
2. a display calibrated to the DICOM Grayscale Standard Display Function (GSDF, PS3.14 "Grayscale
   Standard Display Function", 2023) spaces its grey levels equally in the GSDF's JND index
   between the indices of its minimum and maximum luminance, so level ``p`` shows luminance
   ``GSDF(j_min + p / 255 * (j_max - j_min))`` cd/m², plus the ambient light reflected by the
   screen. The GSDF (Barten's model of the just-noticeable luminance difference for a 2-degree
   target of 4 cycles/degree) is colour-science's ``eotf_DICOMGSDF`` and its inverse;
3. one image pixel, shown at zoom ``z`` on a display of pixel pitch ``pitch_mm``, subtends
   ``2 atan(z * pitch / (2 * distance))`` degrees at the eye, which converts cycles per pixel to
   the cycles per degree the contrast sensitivity function takes. Zoom is modelled as this change
   of scale only (pixel replication): the viewer's interpolation filter is not modelled.

Defaults (``Display()``): 0.21 mm pitch (a 3-megapixel 21.3-inch diagnostic display; the
ACR-AAPM-SIIM Technical Standard for Electronic Practice of Medical Imaging, 2017, asks for a
pitch of about 0.2 mm), 0.5-350 cd/m² (AAPM TG18 / ACR: Lmax >= 350 cd/m² for diagnostic
reading, luminance ratio ~700), no ambient light, read from 50 cm.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from colour.models import eotf_DICOMGSDF, eotf_inverse_DICOMGSDF

from medue.intensity import Window

__all__ = ["GREY_LEVELS", "Display", "grey_levels"]

GREY_LEVELS = 256  # an 8-bit display path (P-values 0..255)


@dataclass(frozen=True)
class Display:
    """A GSDF-calibrated greyscale display and the reader's distance from it.

    ``pitch_mm``: size of one display pixel (mm); ``luminance_min`` / ``luminance_max``: the
    luminance (cd/m²) of grey levels 0 and 255 as calibrated (without ambient light);
    ``ambient``: luminance (cd/m²) reflected by the screen, added to every level;
    ``distance_mm``: eye to screen. Raises ``ValueError`` for non-positive or unordered values
    or a luminance outside the GSDF's range (0.05-3986 cd/m²).
    """

    pitch_mm: float = 0.21
    luminance_min: float = 0.5
    luminance_max: float = 350.0
    distance_mm: float = 500.0
    ambient: float = 0.0

    def __post_init__(self) -> None:
        if not (self.pitch_mm > 0 and self.distance_mm > 0 and self.ambient >= 0):
            raise ValueError(f"invalid display geometry: {self}")
        if not 0.05 <= self.luminance_min < self.luminance_max <= 3986.0:
            raise ValueError(
                f"display luminance {self.luminance_min}-{self.luminance_max} cd/m² is not an "
                "increasing range inside the GSDF's 0.05-3986 cd/m²"
            )

    def pixel_degrees(self, zoom: float = 1.0) -> float:
        """Visual angle (degrees) of one image pixel shown at ``zoom`` display pixels per pixel."""
        if zoom <= 0:
            raise ValueError(f"zoom must be positive, got {zoom}")
        return math.degrees(2.0 * math.atan(zoom * self.pitch_mm / (2.0 * self.distance_mm)))

    def display_degrees(self, pixels: float) -> float:
        """Visual angle (degrees) of ``pixels`` display pixels."""
        return math.degrees(2.0 * math.atan(pixels * self.pitch_mm / (2.0 * self.distance_mm)))

    def jnd_index_range(self) -> tuple[float, float]:
        """GSDF JND indices (1..1023 scale) of grey levels 0 and 255."""
        low, high = eotf_inverse_DICOMGSDF(
            np.array([self.luminance_min, self.luminance_max]), out_int=False
        )
        return float(low) * 1023.0, float(high) * 1023.0

    def luminance(self, levels: np.ndarray) -> np.ndarray:
        """Luminance (cd/m², float64, same shape) of grey levels 0..255 (any real values)."""
        low, high = self.jnd_index_range()
        levels = np.asarray(levels, dtype=np.float64)
        index = low + levels / (GREY_LEVELS - 1) * (high - low)
        return np.asarray(eotf_DICOMGSDF(index, in_int=True), dtype=np.float64) + self.ambient

    def level_luminance_table(self) -> np.ndarray:
        """Luminance (cd/m²) of each of the 256 grey levels, shape (256,)."""
        return self.luminance(np.arange(GREY_LEVELS))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def grey_levels(native: np.ndarray, window: Window) -> np.ndarray:
    """Display grey levels (int 0..255, same shape) of native values under ``window``.

    Linear between the window's edges, clipped outside, rounded half to even (numpy ``rint``), as
    a viewer's 8-bit lookup table does. An 8-bit file under the window (0, 255) maps to itself.
    """
    scaled = (np.asarray(native, dtype=np.float64) - window.low) / window.width
    return np.rint(np.clip(scaled, 0.0, 1.0) * (GREY_LEVELS - 1)).astype(np.int16)
