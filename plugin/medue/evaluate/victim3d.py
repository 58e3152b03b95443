"""The 3D victim: a volumetric UNet trained from scratch on patches, scored on clean volumes.

Noise made slice by slice is known to transfer less well to a network that convolves across
slices, so a protection is also judged by this victim (GitHub issue 4). It follows the 2D victim
(``medue.evaluate.victim``) wherever it can: the same ``VictimConfig`` and ``VictimResult``, Adam
with Dice + CE from scratch, clean test data scored after every epoch with Dice pooled over all
test voxels, the same countermeasures. What differs is forced by volumes of different sizes:

* training on random patches (``patch_size``, default 16 x 64 x 64 voxels, z first), a fixed
  number per epoch, two thirds of them centred on a labelled voxel, since lesions are a tiny
  fraction of a scan and uniform patches would teach "background everywhere";
* strides (1, 2, 2), (2, 2, 2), (2, 2, 2): the first down-sampling is in-plane only, because
  clinical slices are 3-8 times thicker than pixels are wide and a 16-slice patch has little
  depth to lose;
* testing with ``monai.inferers.sliding_window_inference`` over each whole volume.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.networks.nets import UNet

from medue.evaluate.countermeasures import Countermeasure, Pgd, get_countermeasure
from medue.evaluate.victim import VictimConfig, VictimResult, _random_flips
from medue.evaluate.volumes import VolumeSet
from medue.metrics import dice_per_label

PATCH_SIZE = (16, 64, 64)  # z, y, x
PATCHES_PER_EPOCH = 32
FOREGROUND_FRACTION = 2 / 3
STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2))  # divides a patch by (4, 8, 8)
CHANNELS = (8, 16, 32, 64)
OVERLAP = 0.25  # sliding-window overlap at test time
WINDOW_BATCH = 4
THREE_D_HOOKS = (Pgd,)  # training-side countermeasures that do not assume 2D batches


def build_network_3d(num_classes: int) -> torch.nn.Module:
    """A small 3D MONAI UNet (one input channel), narrow enough to train on two CPU cores."""
    return UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=num_classes,
        channels=CHANNELS,
        strides=STRIDES,
        num_res_units=1,
    )


def train_victim_3d(
    train: VolumeSet,
    test: VolumeSet,
    config: VictimConfig,
    progress: Callable[[int, int, float], None] | None = None,
    patch_size: tuple[int, int, int] = PATCH_SIZE,
    patches_per_epoch: int = PATCHES_PER_EPOCH,
) -> VictimResult:
    """Train from scratch on patches of ``train`` and score on whole ``test`` volumes each epoch.

    An epoch is ``patches_per_epoch`` patches in batches of ``config.batch_size``. Deterministic
    for ``config.seed`` on a given machine and thread count: the seed fixes the initial weights,
    the patches, the flips (``config.augment``, in-plane) and the countermeasure's randomness.
    A data-side countermeasure sees each training volume as a stack of axial slices, before the
    timer starts; ``progress(epoch, epochs, dsc)`` is called after each epoch (1-based).
    """
    _check(train, test, config, patch_size, patches_per_epoch)
    countermeasure = _countermeasure_3d(config.countermeasure)
    images = [_pad_to(countermeasure.preprocess(image), patch_size) for image in train.images]
    labels = [_pad_to(label, patch_size) for label in train.labels]
    sampler = PatchSampler(images, labels, patch_size, np.random.default_rng(config.seed))
    hook = countermeasure.batch_hook()
    torch.manual_seed(config.seed)
    model = build_network_3d(config.num_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    flips = torch.Generator().manual_seed(config.seed + 1)
    hook_generator = torch.Generator().manual_seed(config.seed + 2)
    start = time.perf_counter()
    scores, losses = [], []
    for epoch in range(1, config.epochs + 1):
        model.train()
        total = 0.0
        for size in _batch_sizes(patches_per_epoch, config.batch_size):
            batch_images, batch_labels = sampler.batch(size)
            if config.augment:
                batch_images, batch_labels = _random_flips(batch_images, batch_labels, flips)
            if hook is not None:
                batch_images, batch_labels = hook(
                    model, loss_fn, batch_images, batch_labels, hook_generator
                )
            optimiser.zero_grad()
            loss = loss_fn(model(batch_images), batch_labels)
            loss.backward()
            optimiser.step()
            total += loss.item() * size
        losses.append(total / patches_per_epoch)
        scores.append(evaluate_3d(model, test, config.num_classes, patch_size))
        if progress is not None:
            progress(epoch, config.epochs, scores[-1])
    return VictimResult.from_curves(scores, losses, time.perf_counter() - start, countermeasure)


class PatchSampler:
    """Random training patches, each from a uniformly chosen volume (so every patient counts).

    With probability ``FOREGROUND_FRACTION`` (and a labelled voxel in that volume) the patch is
    centred on a uniformly chosen labelled voxel, otherwise on any voxel; it is then shifted to
    lie inside the volume. Volumes must already be at least one patch large (``_pad_to``).
    """

    def __init__(
        self,
        images: list[np.ndarray],
        labels: list[np.ndarray],
        patch_size: tuple[int, int, int],
        rng: np.random.Generator,
    ) -> None:
        self.images, self.labels, self.patch_size, self.rng = images, labels, patch_size, rng
        self.foreground = [np.flatnonzero(label) for label in labels]

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(size, 1, *patch_size) float32 images and int64 labels."""
        pairs = [self.patch() for _ in range(size)]
        images = np.stack([image for image, _ in pairs])[:, None]
        labels = np.stack([label for _, label in pairs])[:, None]
        return torch.from_numpy(images), torch.from_numpy(labels)

    def patch(self) -> tuple[np.ndarray, np.ndarray]:
        index = int(self.rng.integers(len(self.images)))
        shape = self.images[index].shape
        foreground = self.foreground[index]
        if len(foreground) and self.rng.random() < FOREGROUND_FRACTION:
            centre = np.unravel_index(foreground[self.rng.integers(len(foreground))], shape)
        else:
            centre = tuple(int(self.rng.integers(n)) for n in shape)
        box = tuple(
            slice(start, start + size)
            for start, size in (
                (int(np.clip(c - p // 2, 0, n - p)), p)
                for c, p, n in zip(centre, self.patch_size, shape, strict=True)
            )
        )
        return self.images[index][box], self.labels[index][box]


@torch.no_grad()
def predict_3d(
    model: torch.nn.Module, volume: np.ndarray, patch_size: tuple[int, int, int] = PATCH_SIZE
) -> np.ndarray:
    """Argmax label map (z, y, x) int64 of one volume in [0, 1], by overlapping windows.

    Volumes smaller than a window are padded by MONAI and the prediction cropped back.
    """
    model.eval()
    inputs = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    logits = sliding_window_inference(
        inputs, patch_size, WINDOW_BATCH, model, overlap=OVERLAP, mode="gaussian"
    )
    return logits.argmax(1)[0].numpy()


def evaluate_3d(
    model: torch.nn.Module,
    test: VolumeSet,
    num_classes: int,
    patch_size: tuple[int, int, int] = PATCH_SIZE,
) -> float:
    """Mean over foreground classes of Dice pooled over all voxels of all test volumes.

    The definition of the 2D ``victim.evaluate``: a large volume weighs by its voxels, and a class
    absent from one volume cannot score a free 1.0 there.
    """
    predictions = [predict_3d(model, image, patch_size).ravel() for image in test.images]
    targets = [label.ravel() for label in test.labels]
    per_class = dice_per_label(
        np.concatenate(predictions), np.concatenate(targets), range(1, num_classes)
    )
    return float(np.mean(list(per_class.values())))


def _countermeasure_3d(name: str) -> Countermeasure:
    """The named countermeasure, if it works on volumes.

    Data-side ones filter axial slices, so a volume is simply their stack. Training-side ones are
    hooks on 2D batches; only those that never look at the batch's dimensions (PGD) are allowed.
    """
    countermeasure = get_countermeasure(name)
    if countermeasure.kind == "training" and not isinstance(countermeasure, THREE_D_HOOKS):
        raise ValueError(
            f"countermeasure {name!r} is 2D-only for now: its batch hook assumes (B, 1, H, W) "
            "slices; use it with the 2D victim (medue.evaluate.victim.train_victim)"
        )
    return countermeasure


def _check(
    train: VolumeSet,
    test: VolumeSet,
    config: VictimConfig,
    patch_size: tuple[int, int, int],
    patches_per_epoch: int,
) -> None:
    if config.architecture != "unet":
        raise ValueError(f"the 3D victim is a UNet only, not {config.architecture!r}")
    if config.num_classes < 2 or config.epochs < 1 or patches_per_epoch < 1:
        raise ValueError("need num_classes >= 2, epochs >= 1 and patches_per_epoch >= 1")
    divisor = np.prod(STRIDES, axis=0)
    if len(patch_size) != 3 or any(p % d for p, d in zip(patch_size, divisor, strict=True)):
        raise ValueError(f"patch_size {patch_size} must be 3 sizes divisible by {divisor.tolist()}")
    for name, data in (("train", train), ("test", test)):
        if len(data) == 0:
            raise ValueError(f"{name} set is empty")
        if any(label.min() < 0 or label.max() >= config.num_classes for label in data.labels):
            raise ValueError(f"{name} labels outside 0..{config.num_classes - 1}")


def _pad_to(volume: np.ndarray, patch_size: tuple[int, int, int]) -> np.ndarray:
    """Zero-pad (centred) every axis shorter than the patch, so any patch fits."""
    grow = [max(0, p - n) for p, n in zip(patch_size, volume.shape, strict=True)]
    return np.pad(volume, [(g // 2, g - g // 2) for g in grow])


def _batch_sizes(total: int, batch_size: int) -> list[int]:
    """``total`` patches in batches of ``batch_size``, the last one possibly smaller."""
    return [min(batch_size, total - start) for start in range(0, total, batch_size)]
