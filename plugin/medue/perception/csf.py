"""Contrast sensitivity of the standard observer: Barten's (1999) model, via colour-science.

Barten, P. G. J. *Contrast Sensitivity of the Human Eye and Its Effects on Image Quality*, SPIE
Press, 1999 (eq. 3.26, with the pupil diameter of eq. 3.24 and the retinal illuminance of eq.
3.25) is the model the DICOM GSDF itself is built on (PS3.14 Annex B). colour-science implements
it as ``contrast_sensitivity_function_Barten1999`` with the standard observer's constants
(k = 3, T = 0.1 s, X_max = 12 deg, N_max = 15 cycles, eta = 0.03, phi_0 = 3e-8 s deg²,
u_0 = 7 cycles/deg, sigma_0 = 0.5 arcmin, C_ab = 0.08 arcmin/mm; binocular viewing), which are
used unchanged here. Only the viewing conditions are supplied: the luminance ``L`` (cd/m²) sets
the pupil diameter (``pupil_diameter_Barten1999``, for an adapting field of
``ADAPTING_FIELD_DEG``: the display, not the target), the retinal illuminance in Trolands
(``retinal_illuminance_Barten1999``, Stiles-Crawford corrected) and the optical line spread
(``sigma_Barten1999``); the object's angular size ``X_0`` (degrees, square) limits spatial
integration.

Checked against the GSDF: at 4 cycles/degree and X_0 = 2 degrees (the GSDF's own target) this
observer's threshold is 1.14-1.24x below one GSDF step between 1 and 140 cd/m² on the
default display (``tests/test_jnd.py``): colour-science's constants are the binocular
observer of Barten's book and ITU-R BT.2246, the GSDF a more conservative one.

Sensitivity ``S`` is the inverse of the *modulation* threshold of a sinusoid,
``m = (L_max - L_min) / (L_max + L_min)``: the amplitude of a sinusoid over its mean luminance.
The oblique effect (lower sensitivity at 45 degrees) and temporal flicker are not in the model.
"""

from __future__ import annotations

import numpy as np
from colour.contrast import (
    contrast_sensitivity_function_Barten1999,
    pupil_diameter_Barten1999,
    retinal_illuminance_Barten1999,
    sigma_Barten1999,
)

__all__ = ["LuminanceTable", "sensitivity"]

SIGMA_0_DEG = 0.5 / 60.0  # Barten's sigma_0, 0.5 arcmin, in degrees
C_AB_DEG_PER_MM = 0.08 / 60.0  # Barten's C_ab, 0.08 arcmin/mm, in degrees/mm
ADAPTING_FIELD_DEG = 30.0  # a diagnostic display's extent at 50 cm (about 46 x 35 degrees)
TABLE_LUMINANCE = (0.01, 5000.0)  # cd/m²: the lookup table's span, log-spaced
TABLE_POINTS = 96


def sensitivity(
    cycles_per_degree: np.ndarray,
    luminance: float,
    field_degrees: float,
    adapting_degrees: float = ADAPTING_FIELD_DEG,
) -> np.ndarray:
    """Barten (1999) contrast sensitivity (1 / modulation threshold), same shape as the input.

    ``cycles_per_degree``: spatial frequency (array, >= 0; 0 gives 0); ``luminance``: adapting
    luminance in cd/m² (> 0); ``field_degrees``: angular size of the square object in degrees;
    ``adapting_degrees``: size of the adapting field that sets the pupil. ``ValueError`` for a
    non-positive luminance or field.
    """
    u = np.asarray(cycles_per_degree, dtype=np.float64)
    if luminance <= 0 or field_degrees <= 0:
        raise ValueError(f"luminance {luminance} and field {field_degrees} must be positive")
    pupil = pupil_diameter_Barten1999(luminance, adapting_degrees)
    sigma = sigma_Barten1999(SIGMA_0_DEG, C_AB_DEG_PER_MM, pupil)
    trolands = retinal_illuminance_Barten1999(luminance, pupil, True)
    positive = np.maximum(u, 1e-6)  # the formula divides by 1 - exp(-(u/u_0)^2)
    s = contrast_sensitivity_function_Barten1999(
        positive, sigma=sigma, E=trolands, X_0=field_degrees
    )
    return np.where(u > 0, np.asarray(s, dtype=np.float64), 0.0)


class LuminanceTable:
    """Sensitivity at fixed frequencies over adapting luminance, for per-pixel lookups.

    ``cycles_per_degree``: shape (B,), the frequencies (e.g. band centres); the table holds
    ``sensitivity`` at ``TABLE_POINTS`` log-spaced luminances over ``TABLE_LUMINANCE`` and
    ``lookup`` interpolates linearly in log luminance (clamped at the ends).
    """

    def __init__(self, cycles_per_degree: np.ndarray, field_degrees: float) -> None:
        self.cycles_per_degree = np.asarray(cycles_per_degree, dtype=np.float64)
        self.log_luminance = np.linspace(*np.log(TABLE_LUMINANCE), TABLE_POINTS)
        self.values = np.stack(
            [
                sensitivity(self.cycles_per_degree, float(np.exp(lg)), field_degrees)
                for lg in self.log_luminance
            ],
            axis=1,
        )  # (B, TABLE_POINTS)

    def lookup(self, band: int, luminance: np.ndarray) -> np.ndarray:
        """Sensitivity at band ``band``'s frequency for each luminance (cd/m², any shape)."""
        log_l = np.log(np.maximum(np.asarray(luminance, dtype=np.float64), TABLE_LUMINANCE[0]))
        return np.interp(log_l, self.log_luminance, self.values[band])
