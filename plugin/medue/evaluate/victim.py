"""The victim: a 2D segmentation network trained from scratch, scored on clean held-out slices.

This is the judge of every protection. A protection works when a network trained on the protected
copy fails on clean scans, so the victim must be independent of the protector (its own
architecture, initialisation and schedule) and scored on *clean* test slices after every epoch.
One run gives what two attackers get (the threat models of Huang et al., ICLR 2021, and of the
stronger evaluations after it):

- **the attacker with only the release** holds out part of the release (whole images, by image
  id) as a validation split, trains on the rest and keeps the model that scores best on that
  split (``release_only_dsc``); the model of the last epoch is reported too (``final_dsc``);
- **the attacker who early-stops on clean data** keeps the epoch that scores best on the clean
  held-out slices (``best_dsc``): stronger, as a clean labelled set is what the release withholds.

Both train on the same run (the training source minus the validation images), so the clean
reference run, which holds out the same images of the clean copy, compares like with like.

The attacker may also fight back (``VictimConfig.countermeasure``, see
``medue.evaluate.countermeasures``): a data-side countermeasure transforms the training slices once,
a training-side one changes every batch. The test slices always stay clean.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.networks.nets import AttentionUnet, SegResNet, UNet
from torch.utils.data import DataLoader, TensorDataset

from medue.evaluate.countermeasures import Countermeasure, get_countermeasure
from medue.evaluate.slices import SliceSet
from medue.metrics import dice_per_label

ARCHITECTURES = ("unet", "segresnet", "attentionunet")
EVAL_BATCH = 16
MIN_IMAGES_TO_VALIDATE = 4  # below this, the release-only attacker keeps its last model


@dataclass(kw_only=True)
class VictimConfig:
    """How the victim is trained; small defaults that run on a CPU."""

    architecture: str = "unet"
    epochs: int
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    num_classes: int  # including background
    augment: bool = False  # random horizontal and vertical flips
    countermeasure: str = "none"  # a name in medue.evaluate.countermeasures.COUNTERMEASURES
    validation_fraction: float = 0.0  # images of the training source the release-only attacker
    # holds out to pick its model (none with fewer than MIN_IMAGES_TO_VALIDATE images); 0: none,
    # the attacker keeps the last model. ``medue evaluate`` and ``--check`` hold out 0.2.


@dataclass
class VictimResult:
    """Clean-test Dice per epoch (mean over foreground classes) and what each attacker keeps."""

    dsc_per_epoch: list[float]
    loss_per_epoch: list[float]  # mean training loss: near 0 with a fail on clean = a shortcut
    best_dsc: float  # the attacker who early-stops on clean data
    best_epoch: int  # 1-based
    final_dsc: float  # the last model
    seconds: float
    countermeasure: dict[str, Any] = field(default_factory=lambda: Countermeasure().as_dict())
    release_only_dsc: float = float("nan")  # clean-test DSC of the model the attacker with
    # only the release keeps: best on its validation images, else the last model
    release_only_epoch: int = 0  # 1-based
    validation_dsc_per_epoch: list[float] = field(default_factory=list)  # on the held-out
    # images of the training source (the release, for a protected run); empty if none
    validation_ids: list[str] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)  # step of each point (patch victims);
    # empty: one point per epoch

    @classmethod
    def from_curves(
        cls,
        scores: list[float],
        losses: list[float],
        seconds: float,
        cm: Countermeasure,
        validation: list[float] | None = None,
        validation_ids: list[str] | None = None,
    ) -> VictimResult:
        """The summary of per-epoch curves: the epoch each attacker keeps, and the last one."""
        best = int(np.argmax(scores))
        kept = int(np.argmax(validation)) if validation else len(scores) - 1
        return cls(
            dsc_per_epoch=scores,
            loss_per_epoch=losses,
            best_dsc=scores[best],
            best_epoch=best + 1,
            final_dsc=scores[-1],
            seconds=seconds,
            countermeasure=cm.as_dict(),
            release_only_dsc=scores[kept],
            release_only_epoch=kept + 1,
            validation_dsc_per_epoch=list(validation or []),
            validation_ids=list(validation_ids or []),
        )

    def as_dict(self) -> dict:
        return asdict(self)


def build_network(architecture: str, num_classes: int) -> torch.nn.Module:
    """A small 2D MONAI network (one input channel); widths chosen for CPU training."""
    common = {"spatial_dims": 2, "in_channels": 1, "out_channels": num_classes}
    if architecture == "unet":
        return UNet(**common, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=2)
    if architecture == "segresnet":
        return SegResNet(**common, init_filters=16)
    if architecture == "attentionunet":
        return AttentionUnet(**common, channels=(16, 32, 64, 128), strides=(2, 2, 2))
    raise ValueError(f"unknown victim architecture {architecture!r} (known: {ARCHITECTURES})")


def train_victim(
    train: SliceSet,
    test: SliceSet,
    config: VictimConfig,
    progress: Callable[[int, int, float], None] | None = None,
) -> VictimResult:
    """Train from scratch on ``train`` (Adam, Dice + CE) and score on ``test`` after each epoch.

    ``config.validation_fraction`` of ``train``'s images (``hold_out``) are held out and scored
    after each epoch too, for the attacker with only the release (module docstring).
    Deterministic for ``config.seed`` on a given machine and thread count: the seed fixes the
    initial weights, the batch order, the flips and the countermeasure's randomness.
    ``progress(epoch, epochs, dsc)`` is called after each epoch (1-based). The countermeasure's
    ``preprocess`` sees the training slices only (before the timer starts), its batch hook runs
    after the flips on every batch.
    """
    _check(train, test, config)
    train, validation = hold_out(train, config.validation_fraction, config.seed)
    countermeasure = get_countermeasure(config.countermeasure)
    train_images = countermeasure.preprocess(train.images)
    if validation is not None:  # the attacker filters what he validates on as he trains
        validation = replace(validation, images=countermeasure.preprocess(validation.images))
    hook = countermeasure.batch_hook()
    _seed_everything(config.seed)
    model = build_network(config.architecture, config.num_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    loader = DataLoader(
        TensorDataset(_tensor(train_images)[:, None], torch.from_numpy(train.labels)[:, None]),
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
    )
    flips = torch.Generator().manual_seed(config.seed + 1)
    hook_generator = torch.Generator().manual_seed(config.seed + 2)
    start = time.perf_counter()
    scores, losses, validated = [], [], []
    for epoch in range(1, config.epochs + 1):
        model.train()
        total = 0.0
        for images, labels in loader:
            if config.augment:
                images, labels = _random_flips(images, labels, flips)
            if hook is not None:
                images, labels = hook(model, loss_fn, images, labels, hook_generator)
            optimiser.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(images)
        losses.append(total / len(train))
        scores.append(evaluate(model, test, config.num_classes))
        if validation is not None:
            validated.append(evaluate(model, validation, config.num_classes))
        if progress is not None:
            progress(epoch, config.epochs, scores[-1])
    seconds = time.perf_counter() - start
    held = sorted({image_of(i) for i in validation.ids}) if validation is not None else []
    return VictimResult.from_curves(scores, losses, seconds, countermeasure, validated, held)


def image_of(slice_id: str) -> str:
    """The image id of a slice id (``case/z12`` -> ``case``; a 2D image's id is its own)."""
    return slice_id.split("/z")[0]


def hold_out(train: SliceSet, fraction: float, seed: int) -> tuple[SliceSet, SliceSet | None]:
    """Split ``train`` by image into (training part, validation part).

    ``round(fraction * images)`` images (at least one) are drawn with ``seed``; with fewer than
    ``MIN_IMAGES_TO_VALIDATE`` images, or ``fraction`` 0, nothing is held out (``None``). Whole
    images go to one side, so a volume's slices never validate a model trained on its neighbours.
    """
    images = sorted({image_of(i) for i in train.ids})
    if fraction <= 0 or len(images) < MIN_IMAGES_TO_VALIDATE:
        return train, None
    count = min(len(images) - 1, max(1, round(fraction * len(images))))
    held = set(np.random.default_rng(seed).choice(images, count, replace=False).tolist())
    chosen = np.array([image_of(i) in held for i in train.ids])
    return _subset(train, ~chosen), _subset(train, chosen)


def _subset(slices: SliceSet, chosen: np.ndarray) -> SliceSet:
    ids = [i for i, keep in zip(slices.ids, chosen, strict=True) if keep]
    return SliceSet(slices.images[chosen], slices.labels[chosen], ids)


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Argmax label map (N, H, W) int64 for (N, H, W) images in [0, 1]."""
    model.eval()
    inputs = _tensor(images)[:, None]
    outputs = [
        model(inputs[i : i + EVAL_BATCH]).argmax(1) for i in range(0, len(inputs), EVAL_BATCH)
    ]
    return torch.cat(outputs).numpy()


def evaluate(
    model: torch.nn.Module, test: SliceSet, num_classes: int, mask: np.ndarray | None = None
) -> float:
    """Mean over foreground classes of Dice pooled over the whole test set, inside ``mask``
    ((N, H, W), e.g. DRIVE's field of view) when given.

    Pooled: each class's Dice counts all its voxels of all test slices at once, so slices where a
    class is tiny or absent do not weigh as much as the slices that carry most of it (a per-slice
    mean would score an absent-and-not-predicted class as a perfect 1.0 on every such slice).
    """
    predicted, labels = predict(model, test.images), test.labels
    if mask is not None:
        predicted, labels = predicted * mask, labels * mask
    per_class = dice_per_label(predicted, labels, range(1, num_classes))
    return float(np.mean(list(per_class.values())))


def _check(train: SliceSet, test: SliceSet, config: VictimConfig) -> None:
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"unknown victim architecture {config.architecture!r}")
    if config.num_classes < 2 or config.epochs < 1:
        raise ValueError("need num_classes >= 2 (background included) and epochs >= 1")
    for name, data in (("train", train), ("test", test)):
        if len(data) == 0:
            raise ValueError(f"{name} set is empty")
        if data.labels.min() < 0 or data.labels.max() >= config.num_classes:
            raise ValueError(f"{name} labels outside 0..{config.num_classes - 1}")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))


def _random_flips(
    images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each sample left-right and/or up-down with probability 1/2, image and label alike."""
    images, labels = images.clone(), labels.clone()
    for axis in (-1, -2):
        chosen = torch.rand(len(images), generator=generator) < 0.5
        images[chosen] = images[chosen].flip(axis)
        labels[chosen] = labels[chosen].flip(axis)
    return images, labels
