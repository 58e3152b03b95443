"""Perturbation budgets: what a user asks for (a preset or epsilon in native units) -> numbers.

A preset is defined by what a reader can see, resolved per image (docs/METHODS.md, "Budgets"):
its JND ceilings (``Preset.jnd_ceilings``: the most just-noticeable differences allowed at each
zoom, at the image's reading window, ``medue.perception``) are applied to the change as it will
be written (``medue.perception.ceiling``). Before that, epsilon is a multiple of the image's own
noise SD (``medue.visibility.noise_sigma``, measured around the ROI), capped so that a change of
+-epsilon on every voxel the method may touch keeps the whole-image PSNR at or above the preset's
floor. The papers' operating point is a whole-image PSNR of 50 dB (UMed, arXiv 2403.14250:
50.03 dB).

Epsilon is never smaller than one storable step: a budget below what the file can hold would
round away to nothing, so a preset that resolves below it is raised to one step (recorded), and an
explicit ``--epsilon`` below it is refused for that image (a promise of "at most 0.5 HU" cannot
be kept on a 2-HU grid). An image with no measurable noise (synthetic, constant) is given one
display grey level of its window (width / 255) as its sigma, and the record says so.

Mixed steps (``BudgetRequest.mixed_steps``, for methods that can honour it: the fixed patterns):
on integer storage the PSNR floor rarely falls on a whole step (DRIVE's vessels at 50 dB allow an
RMS change of 2.9 grey levels; whole steps give 2, i.e. 52.8 dB, or 3, i.e. 49.3 dB). Rather than
rounding the budget down a step, such a method changes each voxel by the step just below or just
above the floor's RMS (``Budget.mixed_amplitudes``), in proportions whose mean square is the
floor's, so the written files sit at the floor (to within the voxels' rounding) and never exceed
the upper step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from medue.errors import InputError
from medue.intensity import Window
from medue.io import StoredEncoding


@dataclass(frozen=True)
class Preset:
    """Under ``jnd_ceilings`` (zoom -> most JND, at the reading window); before that, epsilon =
    ``sigma_multiple`` x the image's noise SD, within the whole-image PSNR floor."""

    sigma_multiple: float
    min_psnr_db: float
    meaning: str
    jnd_ceilings: tuple[tuple[str, float], ...] = ()


PRESETS: dict[str, Preset] = {
    "imperceptible": Preset(
        0.3, 50.0, "not seen at 1x or 2x zoom (< 0.5 JND), at most 0.3 x the image's noise",
        (("1x", 0.5), ("2x", 0.5)),
    ),
    "balanced": Preset(
        1.5, 50.0, "not seen at 1x (< 1 JND; may show at 2-4x), PSNR >= 50 dB, <= 1.5 x noise",
        (("1x", 1.0),),
    ),
    "strong": Preset(
        3.0, 45.0, "up to 2 JND at 1x (a careful reader may see it), PSNR >= 45 dB, <= 3 x noise",
        (("1x", 2.0),),
    ),
    "robust": Preset(
        1.5, 45.0, "not seen at 1x (< 1 JND), PSNR >= 45 dB; UMed trains against filters",
        (("1x", 1.0),),
    ),
}  # fmt: skip
DEFAULT_PRESET = "balanced"
ROBUST_PRESET = "robust"


@dataclass(frozen=True)
class BudgetRequest:
    """What the user asked for: a preset name, or epsilon in native units (e.g. HU)."""

    preset: str | None = DEFAULT_PRESET
    epsilon: float | None = None
    mixed_steps: bool = False  # the method mixes two whole steps to sit at the PSNR floor

    def __post_init__(self) -> None:
        if self.epsilon is not None and not self.epsilon > 0:
            raise InputError(None, f"--epsilon must be a positive number, got {self.epsilon}")
        if self.epsilon is None and self.preset not in PRESETS:
            names = ", ".join(PRESETS)
            raise InputError(None, f"unknown preset {self.preset!r} (choose one of: {names})")


@dataclass(frozen=True)
class Budget:
    """The budget for one image: native units and the same in the [0, 1] window space.

    ``noise_sigma`` is the image's noise SD (native units) the preset was resolved against, and
    ``rule`` says in words how epsilon was chosen. ``rms_native`` > 0 (mixed steps only): the RMS
    change per changed voxel that the PSNR floor allows, between ``epsilon_native - step_native``
    and ``epsilon_native``.
    """

    epsilon_native: float
    step_native: float
    window: Window
    noise_sigma: float = 0.0
    rule: str = ""
    rms_native: float = 0.0
    jnd_ceilings: tuple[tuple[str, float], ...] = ()  # the preset's, at ``window``; none: --epsilon

    @property
    def epsilon(self) -> float:
        """Epsilon in normalised (window) units."""
        return self.window.native_to_delta(self.epsilon_native)

    @property
    def step(self) -> float:
        """The smallest storable change in normalised units (0 for float storage)."""
        return self.window.native_to_delta(self.step_native)

    def mixed_amplitudes(self) -> tuple[float, float, float] | None:
        """``(low, high, share_high)`` in normalised units: a voxel changed by ``high`` with
        probability ``share_high``, else by ``low``, has mean square ``rms_native**2``; None when
        the budget is a single amplitude (``epsilon``)."""
        if self.rms_native <= 0 or not self.step_native:
            return None
        high = self.epsilon_native
        low = high - self.step_native
        share = (self.rms_native**2 - low**2) / (high**2 - low**2)
        native_to_delta = self.window.native_to_delta
        return native_to_delta(low), native_to_delta(high), min(1.0, max(0.0, share))

    def ceilings(self) -> dict[str, float]:
        """The JND ceilings by zoom name, e.g. ``{"1x": 1.0}``; empty for an explicit epsilon."""
        return dict(self.jnd_ceilings)

    def as_dict(self) -> dict:
        return {**asdict(self), "window": self.window.as_dict(), "epsilon_normalised": self.epsilon}


@dataclass(frozen=True)
class ImageFacts:
    """What a preset needs to know of one image: its noise, range and the touched fraction."""

    noise_sigma: float  # native units; 0 = not measurable
    data_range: float  # the whole-image PSNR's peak, native units: 8-bit full scale, else max - min
    region_fraction: float  # voxels the method may change / all voxels, in (0, 1]


def resolve_budget(
    request: BudgetRequest, window: Window, encoding: StoredEncoding, facts: ImageFacts
) -> Budget:
    """Turn a request into native numbers for one image, snapped to whole storable steps."""
    step = encoding.native_step
    jnd: tuple[tuple[str, float], ...] = ()
    if request.epsilon is not None:
        epsilon, sigma, rule = float(request.epsilon), facts.noise_sigma, "--epsilon as given"
        if step and epsilon < step:
            raise InputError(
                None,
                f"--epsilon {epsilon:g} is below the smallest change this file can hold "
                f"({step:g} native units: stored {encoding.describe()}); use at least {step:g}",
            )
    else:
        preset = PRESETS[request.preset]
        epsilon, sigma, rule, ceiling = _from_preset(preset, window, facts)
        jnd = preset.jnd_ceilings
        high = step * math.ceil(epsilon / step) if step else epsilon
        if request.mixed_steps and step and step < epsilon < high <= ceiling:
            rule += f"; steps of {high - step:g} and {high:g} mixed to an RMS of {epsilon:.3g}"
            return Budget(high, step, window, sigma, rule, rms_native=epsilon, jnd_ceilings=jnd)
    if step:
        snapped = max(step, step * (epsilon // step))
        if snapped > epsilon:
            rule += f"; raised to one storable step ({step:g})"
        epsilon = snapped
    return Budget(epsilon, step, window, noise_sigma=sigma, rule=rule, jnd_ceilings=jnd)


def _from_preset(
    preset: Preset, window: Window, facts: ImageFacts
) -> tuple[float, float, str, float]:
    """Epsilon, the noise SD, the rule in words and the noise ceiling (``sigma_multiple`` x SD),
    all native; epsilon is below the ceiling when the PSNR floor caps it."""
    sigma = facts.noise_sigma
    rule = f"{preset.sigma_multiple:g} x noise SD {sigma:.3g}"
    if sigma <= 0:
        sigma = window.width / 255.0
        rule = f"{preset.sigma_multiple:g} x one grey level ({sigma:.3g}; no noise measured)"
    epsilon = ceiling = preset.sigma_multiple * sigma
    cap = facts.data_range * 10 ** (-preset.min_psnr_db / 20) / math.sqrt(facts.region_fraction)
    if facts.data_range > 0 and cap < epsilon:
        epsilon = cap
        rule += f", capped at {cap:.3g} by whole-image PSNR >= {preset.min_psnr_db:g} dB"
    return epsilon, sigma, rule, ceiling


def top_k_count(voxels: int, fraction: float) -> int:
    """SALM's K for an image of ``voxels`` voxels: ``round(fraction * voxels)``, at least 1.

    Raises ``ValueError`` unless ``0 < fraction <= 1``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"the top-K fraction must be in (0, 1], got {fraction}")
    return max(1, min(voxels, round(fraction * voxels)))
