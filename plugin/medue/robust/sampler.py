"""One randomly chosen attacker countermeasure per call, for expectation over transformation.

A protection loop that optimises through a different cheap countermeasure at each step ends up
with a perturbation that survives all of them on average. As in TorchIO, drawing the random
parameters (``RandomCountermeasure.sample``) is separate from applying them
(``AppliedCountermeasure.apply``, deterministic): the draw can be recorded (``as_dict``) and
replayed, and every random number comes from the caller's ``torch.Generator``, so a seeded run is
reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from medue.robust import transforms

Params = dict[str, Any]
MAX_SEED = 2**31 - 1
# Transforms that move pixels: a segmentation label would have to move with the image.
GEOMETRIC = frozenset({"flip_rotate", "elastic"})


@dataclass(frozen=True)
class AppliedCountermeasure:
    """One drawn countermeasure: a registered transform name and its fixed parameters."""

    name: str
    params: Params = field(default_factory=dict)

    @property
    def geometric(self) -> bool:
        """True when pixels move, so labels no longer line up with the output unchanged."""
        return self.name in GEOMETRIC

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The transform on (N, 1, H, W) or (N, 1, D, H, W); the same output for the same x."""
        return TRANSFORMS[self.name].apply(x, **self.params)

    def as_dict(self) -> Params:
        """Name and every parameter, for logs and results files."""
        return {"name": self.name, **self.params}


@dataclass(frozen=True)
class Transform:
    """How to draw a transform's parameters and how to apply them."""

    sample: Callable[[torch.Generator], Params]
    apply: Callable[..., torch.Tensor]


class RandomCountermeasure:
    """Draws, per call, one of ``names`` (uniformly) with random parameters."""

    def __init__(self, names: Sequence[str] | None = None) -> None:
        names = tuple(TRANSFORMS) if names is None else tuple(names)
        unknown = [name for name in names if name not in TRANSFORMS]
        if unknown or not names:
            raise ValueError(f"unknown countermeasures {unknown}; known: {', '.join(TRANSFORMS)}")
        self.names = names

    def sample(self, generator: torch.Generator) -> AppliedCountermeasure:
        """A name, then its parameters, both from ``generator``."""
        index = int(
            torch.randint(
                len(self.names), (1,), generator=generator, device=generator.device
            ).item()
        )
        name = self.names[index]
        return AppliedCountermeasure(name, TRANSFORMS[name].sample(generator))

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, AppliedCountermeasure]:
        """Draw and apply in one go; the draw is returned so it can be recorded."""
        applied = self.sample(generator)
        return applied.apply(x), applied


def random_displacement(
    x: torch.Tensor, seed: int, max_pixels: float, smoothing: float
) -> torch.Tensor:
    """A smooth (N, 2, H, W) field for ``x``: U(-1, 1) noise blurred by ``smoothing`` pixels.

    Drawn from its own generator seeded with ``seed``, so the field is fixed by the recorded
    parameters and ``x``'s shape. Each sample is scaled so its largest component is
    ``max_pixels``: smoothing shrinks white noise by a size-dependent factor.
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand((x.shape[0], 2, *x.shape[-2:]), generator=generator) * 2 - 1
    smooth = transforms.gaussian_blur(noise, smoothing)
    peak = smooth.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (smooth * (max_pixels / peak)).to(x)


def _elastic(x: torch.Tensor, seed: int, max_pixels: float, smoothing: float) -> torch.Tensor:
    return transforms.elastic(x, random_displacement(x, seed, max_pixels, smoothing))


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(
        torch.rand(1, generator=generator, device=generator.device).item()
    )


def _coin(generator: torch.Generator) -> bool:
    return bool(torch.rand(1, generator=generator, device=generator.device).item() < 0.5)


def _integer(generator: torch.Generator, low: int, high: int) -> int:
    """Uniform on low..high, both included."""
    return int(
        torch.randint(low, high + 1, (1,), generator=generator, device=generator.device).item()
    )


TRANSFORMS: dict[str, Transform] = {
    "identity": Transform(lambda g: {}, lambda x: x),
    "gaussian_blur": Transform(
        lambda g: {"sigma": _uniform(g, 0.5, 1.5)}, transforms.gaussian_blur
    ),
    "mean_blur": Transform(lambda g: {"size": 3}, transforms.mean_blur),
    "median_blur": Transform(lambda g: {"size": 3}, transforms.median_blur),
    "down_up": Transform(lambda g: {"factor": _uniform(g, 0.4, 0.7)}, transforms.down_up),
    "rescale_gamma": Transform(
        lambda g: {
            "scale": _uniform(g, 0.9, 1.1),
            "offset": _uniform(g, -0.05, 0.05),
            "gamma": _uniform(g, 0.8, 1.25),
        },
        transforms.rescale_gamma,
    ),
    "quantise": Transform(lambda g: {"levels": 255}, transforms.quantise),
    "flip_rotate": Transform(
        lambda g: {
            "flip_h": _coin(g),
            "flip_v": _coin(g),
            "angle_degrees": _uniform(g, -10.0, 10.0),
        },
        transforms.flip_rotate,
    ),
    "elastic": Transform(
        lambda g: {"seed": _integer(g, 0, MAX_SEED), "max_pixels": 2.0, "smoothing": 4.0},
        _elastic,
    ),
    "jpeg_approx": Transform(lambda g: {"quality": _integer(g, 30, 90)}, transforms.jpeg_approx),
}
