"""Training-side countermeasures: they change every batch instead of the stored images.

Strong augmentation breaks shortcuts tied to exact pixel positions and intensities; adversarial
training (PGD) is the best-known defence against unlearnable examples, because the model is
trained on images pushed back up the loss, where an error-minimising shortcut stops helping.
Both act through a batch hook (see ``base.BatchHook``) and draw every random number from the
victim's generator, so a seeded run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from monai.transforms import (
    Compose,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandFlipd,
    RandRotated,
    RandScaleIntensityd,
    RandShiftIntensityd,
)
from monai.utils import convert_to_tensor

from medue.evaluate.countermeasures.base import BatchHook, Countermeasure, LossFn

KEYS = ("image", "label")
MAX_SEED = 2**31 - 1


@dataclass(frozen=True, kw_only=True)
class Augment(Countermeasure):
    """Strong augmentation with MONAI dictionary transforms, per sample, image and label alike.

    Geometry (flips, rotation, elastic deformation; labels with nearest interpolation, zeros
    outside) then intensity jitter on the image only (scale, shift, gamma), clipped to [0, 1].
    """

    name: str = "augment"
    flip_prob: float = 0.5  # per axis
    rotate_degrees: float = 15.0
    rotate_prob: float = 0.5
    elastic_prob: float = 0.5
    elastic_spacing: float = 16.0  # control points every 16 pixels
    elastic_magnitude: tuple[float, float] = (1.0, 3.0)  # displacement std at them, pixels
    intensity_prob: float = 0.5  # for each of scale, shift and gamma
    scale: float = 0.1  # image * (1 + U(-0.1, 0.1))
    shift: float = 0.1  # image + U(-0.1, 0.1)
    gamma: tuple[float, float] = (0.7, 1.5)

    @property
    def kind(self) -> str:
        return "training"

    def batch_hook(self) -> BatchHook:
        transform = self.transform()  # one per run: its random state is the run's

        def hook(
            model: torch.nn.Module,
            loss_fn: LossFn,
            images: torch.Tensor,
            labels: torch.Tensor,
            generator: torch.Generator,
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return augment_batch(transform, images, labels, generator)

        return hook

    def transform(self) -> Compose:
        """The per-sample MONAI pipeline, for (1, H, W) image and label tensors."""
        modes = ("bilinear", "nearest")
        return Compose(
            [
                RandFlipd(KEYS, prob=self.flip_prob, spatial_axis=0),
                RandFlipd(KEYS, prob=self.flip_prob, spatial_axis=1),
                RandRotated(
                    KEYS,
                    range_x=float(np.deg2rad(self.rotate_degrees)),
                    prob=self.rotate_prob,
                    mode=modes,
                    padding_mode="zeros",
                ),
                Rand2DElasticd(
                    KEYS,
                    spacing=(self.elastic_spacing, self.elastic_spacing),
                    magnitude_range=self.elastic_magnitude,
                    prob=self.elastic_prob,
                    mode=modes,
                    padding_mode="zeros",
                ),
                RandScaleIntensityd("image", factors=self.scale, prob=self.intensity_prob),
                RandShiftIntensityd("image", offsets=self.shift, prob=self.intensity_prob),
                RandAdjustContrastd("image", gamma=self.gamma, prob=self.intensity_prob),
            ]
        )


def augment_batch(
    transform: Compose, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample of a (B, 1, H, W) batch through ``transform``, reseeded from ``generator``."""
    transform.set_random_state(seed=int(torch.randint(MAX_SEED, (1,), generator=generator)))
    pairs = [transform({"image": x, "label": y}) for x, y in zip(images, labels, strict=True)]
    out_images = torch.stack([_plain(pair["image"]) for pair in pairs]).float()
    out_labels = torch.stack([_plain(pair["label"]) for pair in pairs]).round()
    return out_images.clamp(0.0, 1.0), out_labels.to(labels.dtype)


def _plain(data: object) -> torch.Tensor:
    """A plain tensor: MONAI returns MetaTensors, which the training loop does not need."""
    return convert_to_tensor(data, track_meta=False)


@dataclass(frozen=True, kw_only=True)
class Pgd(Countermeasure):
    """Short PGD adversarial training (Madry et al. 2018) on every batch.

    ``steps`` signed-gradient ascent steps of size ``step`` on the training loss, projected onto
    the L-infinity ball of radius ``rho`` around the batch and onto [0, 1]; the model then trains
    on the result. No random start, so the generator is not used. The attack runs the model in
    its current (training) mode, as Madry et al. do, so BatchNorm statistics see it too.
    """

    name: str = "pgd"
    rho: float = 4.0 / 255.0
    steps: int = 3
    step: float = 2.0 / 255.0  # rho / 2: three steps can reach the boundary from the centre

    def __post_init__(self) -> None:
        if self.rho <= 0 or self.step <= 0 or self.steps < 1:
            raise ValueError(f"PGD needs rho > 0, step > 0 and steps >= 1, got {self}")

    @property
    def kind(self) -> str:
        return "training"

    def batch_hook(self) -> BatchHook:
        return self.attack

    def attack(
        self,
        model: torch.nn.Module,
        loss_fn: LossFn,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The adversarial batch (labels unchanged); model gradients are left untouched."""
        clean = images.detach()
        adversarial = clean.clone()
        for _ in range(self.steps):
            adversarial.requires_grad_(True)
            (grad,) = torch.autograd.grad(loss_fn(model(adversarial), labels), adversarial)
            moved = adversarial.detach() + self.step * grad.sign()
            adversarial = torch.min(torch.max(moved, clean - self.rho), clean + self.rho)
            adversarial = adversarial.clamp(0.0, 1.0)
        return adversarial.detach(), labels
