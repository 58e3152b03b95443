"""What a countermeasure is: a named, frozen set of parameters with two ways to act.

An unauthorised trainer who suspects protected data can (1) transform the downloaded images once
before training (filters, re-compression, re-windowing) or (2) change each training batch
(augmentation, adversarial training). Both kinds share this interface so the victim treats them
alike, and they are frozen dataclasses so the parameters that produced a number are fixed and can be
recorded next to it (``as_dict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# hook(model, loss_fn, images, labels, generator) -> (images, labels), called on every training
# batch: images (B, 1, H, W) float32 in [0, 1], labels (B, 1, H, W) int64. The generator is the
# hook's only source of randomness, so a seeded run is reproducible.
BatchHook = Callable[
    [torch.nn.Module, LossFn, torch.Tensor, torch.Tensor, torch.Generator],
    tuple[torch.Tensor, torch.Tensor],
]


@dataclass(frozen=True, kw_only=True)
class Countermeasure:
    """The undefended reference: no change to the data or to training.

    Subclasses override ``preprocess`` (data-side) or ``batch_hook`` (training-side), never both,
    so each result is attributable to one countermeasure.
    """

    name: str = "none"

    @property
    def kind(self) -> str:
        return "none"

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """Training slices (N, H, W) in [0, 1] as the attacker trains on them."""
        return images

    def batch_hook(self) -> BatchHook | None:
        """A fresh per-run hook for the training loop, or None when training is unchanged."""
        return None

    def as_dict(self) -> dict[str, Any]:
        """Name, kind and every parameter, for results files."""
        return {"kind": self.kind, **asdict(self)}


def check_slices(images: np.ndarray) -> np.ndarray:
    """The stack as float32 (N, H, W); refuse anything else rather than guess an axis order."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"expected 2D slices (N, H, W), got shape {images.shape}")
    return images.astype(np.float32, copy=False)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] to 0..255: codecs store 8-bit grey levels, as an exported PNG/JPEG/DICOM would."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
