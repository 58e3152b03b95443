"""The classification victim: a MONAI ResNet-18 or DenseNet-121 trained from scratch, scored clean.

The classification counterpart of ``medue.evaluate.victim`` (the segmentation judge), for SALM:
a protection of a classification dataset works when a classifier trained on the protected copy
fails on clean scans. As there, the victim is independent of the protector (its own architecture,
initialisation and schedule), it is scored on *clean* test images after every epoch. One run gives
what two attackers get, as in ``medue.evaluate.victim``:

- **the attacker with only the release** holds out ``validation_fraction`` of the training images
  (stratified by class, by image; ``validation_split``), trains on the rest and keeps the model
  whose balanced accuracy on that held-out part of the release is best
  (``release_only_accuracy``); without a validation split it keeps the last model;
- **the attacker who early-stops on clean data** keeps the epoch best on the clean test images
  (``best_*``); the last model is reported too (``final_*``).

Both come from the same run (the training images minus the held-out ones), next to two floors:
chance (1 / number of classes) and the majority-class rate of the test set (the best any constant
answer scores there).

Images go in as read from the files, in native units, each ``(H, W)`` (2D) or ``(D, H, W)`` (3D).
Each is normalised on its own as ``medue.evaluate.slices.normalise`` does (uint8 / 255, anything
else clipped to its 0.5/99.5 percentiles of the non-minimum voxels, to [0, 1]), then zero-padded
or cropped, centred, to one shape per run: by default the largest extent of each axis over the
train and test images, so nothing is cropped.

Countermeasures (``medue.evaluate.countermeasures``, applied to the training images only):

* data-side (gaussian, median, downup, jpeg, jpeg2000, rewindow and their variants) act on the
  normalised, padded training images once, a 3D volume being a stack of axial slices (as in
  ``medue.evaluate.victim3d``);
* ``pgd`` is used as it is: its attack only needs a loss of ``model(images)`` and the labels, here
  cross-entropy against class indices;
* ``augment`` is the same MONAI pipeline (``Augment.transform``) on the image alone: it is built
  for an image and a label map, so it is given an all-zero dummy map and its warped copy is
  dropped. Its transforms are 2D, so it is refused for 3D images;
* any other training-side countermeasure is refused: its batch hook may assume label maps.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from medue.evaluate.countermeasures import (
    Augment,
    BatchHook,
    Countermeasure,
    Pgd,
    get_countermeasure,
)
from medue.evaluate.countermeasures.training import augment_batch
from medue.intensity import percentile_window
from medue.networks.classifier import ARCHITECTURES, build_classifier

EVAL_BATCH = 32
MIN_IMAGES_TO_VALIDATE = 4  # below this, the release-only attacker keeps its last model
MIN_EXTENT = {"densenet121": 32}  # it halves each axis five times: a 28x28 image pools to nothing


class Sample(NamedTuple):
    """One image (native units, ``(H, W)`` or ``(D, H, W)``) and its class index 0..C-1."""

    image: np.ndarray
    label: int


@dataclass
class VictimRun:
    """Clean-test accuracy and balanced accuracy per epoch, their summary and the floors."""

    architecture: str
    seed: int
    num_classes: int
    shape: tuple[int, ...]  # the one (H, W) or (D, H, W) every image was padded/cropped to
    accuracy_per_epoch: list[float]
    balanced_accuracy_per_epoch: list[float]  # mean recall over the classes present in test
    loss_per_epoch: list[float]  # mean training cross-entropy: near 0 with a fail = a shortcut
    recall_per_epoch: list[list[float]]  # per class (index order; nan: not in test), per epoch
    best_accuracy: float  # max over epochs
    best_balanced_accuracy: float  # max over epochs
    best_epoch: int  # 1-based, the epoch of best_balanced_accuracy (first one on ties)
    final_accuracy: float
    final_balanced_accuracy: float
    chance: float  # 1 / num_classes
    majority: float  # the test share of its most frequent class
    seconds: float  # training and scoring, after the data-side countermeasure
    countermeasure: dict[str, Any] = field(default_factory=lambda: Countermeasure().as_dict())
    release_only_accuracy: float = float("nan")  # clean-test scores of the model the attacker
    release_only_balanced_accuracy: float = float("nan")  # with only the release keeps
    release_only_epoch: int = 0  # 1-based: best on its validation images, else the last one
    validation_balanced_accuracy_per_epoch: list[float] = field(default_factory=list)  # on the
    # held-out training images (part of the release, for a protected run); empty if none
    validation_images: int = 0  # how many training images were held out (not trained on)

    def as_dict(self) -> dict:
        return asdict(self)


def normalise_image(image: np.ndarray) -> np.ndarray:
    """[0, 1] float32 as ``slices.normalise``: uint8 / 255, else 0.5/99.5 percentiles, clipped."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return percentile_window(image).normalise(image)


def fit_shape(image: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Zero-pad or crop each axis, centred, to ``shape`` (an odd surplus goes after the image)."""
    if image.ndim != len(shape):
        raise ValueError(f"image of shape {image.shape} cannot take shape {tuple(shape)}")
    crop = tuple(
        slice((n - s) // 2, (n - s) // 2 + s) if n > s else slice(None)
        for n, s in zip(image.shape, shape, strict=True)
    )
    image = image[crop]
    pad = [((s - n) // 2, s - n - (s - n) // 2) for n, s in zip(image.shape, shape, strict=True)]
    return np.pad(image, pad)


def prepare(samples: Sequence[Sample], shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised images (N, *shape) float32 and labels (N,) int64."""
    images = np.stack([fit_shape(normalise_image(s.image), shape) for s in samples])
    return images.astype(np.float32, copy=False), np.array([s.label for s in samples], np.int64)


def train_victim(
    train: Sequence[Sample],
    test: Sequence[Sample],
    arch: str,
    seed: int,
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    countermeasure: str | Countermeasure | None = None,
    spatial_dims: int = 2,
    *,
    num_classes: int | None = None,
    shape: Sequence[int] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    validation_fraction: float = 0.0,
    on_epoch: Callable[[int, torch.nn.Module], None] | None = None,
    initial_state: dict | None = None,
) -> VictimRun:
    """Train ``arch`` from scratch on ``train`` (Adam, cross-entropy), score on ``test`` each epoch.

    ``validation_fraction`` of ``train`` (``validation_split``, drawn with ``seed``) is held out
    of training and scored after each epoch, for the attacker with only the release (module
    docstring); 0, the default, holds out nothing. ``num_classes`` defaults to the largest label
    + 1; ``shape`` to the largest extent of each axis over all images (held-out ones included),
    raised to ``MIN_EXTENT`` for an architecture that needs it (zero padding).
    ``countermeasure`` is a registered name or an instance (None: none); a data-side one
    transforms the held-out images too (the attacker validates on what he trains on).
    Deterministic for ``seed`` on a given machine and thread count: the seed fixes the initial
    weights, the batch order and the countermeasure's randomness. A trailing batch of one image
    joins the one before it (BatchNorm cannot train on a single image at 1x1 resolution).
    ``progress(epoch, epochs, accuracy)`` is called after each epoch (1-based), and
    ``on_epoch(epoch, model)`` too (e.g. to keep the models each attacker would keep).
    ``initial_state`` (a state dict of the same network and classes) starts from a model trained
    elsewhere: the attacker who fine-tunes.
    """
    num_classes = _check(train, test, arch, epochs, spatial_dims, num_classes)
    cm = _countermeasure(countermeasure, spatial_dims)
    if shape is None:
        shape = tuple(max(s.image.shape[i] for s in (*train, *test)) for i in range(spatial_dims))
    shape = tuple(max(int(n), MIN_EXTENT.get(arch, 1)) for n in shape)
    train_images, train_labels = prepare(train, shape)
    test_images, test_labels = prepare(test, shape)
    train_images = _preprocess(cm, train_images, spatial_dims)
    held = validation_split(train_labels, validation_fraction, seed)
    valid_images, valid_labels = train_images[held], train_labels[held]
    train_images, train_labels = train_images[~held], train_labels[~held]
    hook = _classification_hook(cm)
    _seed_everything(seed)
    model = build_classifier(arch, spatial_dims, num_classes)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    inputs, targets = torch.from_numpy(train_images)[:, None], torch.from_numpy(train_labels)
    order = torch.Generator().manual_seed(seed)
    hook_generator = torch.Generator().manual_seed(seed + 2)
    start = time.perf_counter()
    accuracy, balanced, losses, recalls, validated = [], [], [], [], []
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for batch in _batches(len(train_labels), batch_size, order):
            images, labels = inputs[batch], targets[batch]
            if hook is not None:
                images, labels = hook(model, loss_fn, images, labels, hook_generator)
            optimiser.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        losses.append(total / len(train_labels))
        predicted = predict(model, test_images)
        acc, bal = scores(predicted, test_labels)
        accuracy.append(acc)
        balanced.append(bal)
        recalls.append(class_recalls(predicted, test_labels, num_classes))
        if held.any():
            validated.append(scores(predict(model, valid_images), valid_labels)[1])
        if progress is not None:
            progress(epoch, epochs, acc)
        if on_epoch is not None:
            on_epoch(epoch, model)
    best = int(np.argmax(balanced))
    kept = int(np.argmax(validated)) if validated else epochs - 1
    return VictimRun(
        architecture=arch,
        seed=seed,
        num_classes=num_classes,
        shape=tuple(int(n) for n in shape),
        accuracy_per_epoch=accuracy,
        balanced_accuracy_per_epoch=balanced,
        loss_per_epoch=losses,
        recall_per_epoch=recalls,
        best_accuracy=max(accuracy),
        best_balanced_accuracy=balanced[best],
        best_epoch=best + 1,
        final_accuracy=accuracy[-1],
        final_balanced_accuracy=balanced[-1],
        chance=1.0 / num_classes,
        majority=float(np.bincount(test_labels).max() / len(test_labels)),
        seconds=time.perf_counter() - start,
        countermeasure=cm.as_dict(),
        release_only_accuracy=accuracy[kept],
        release_only_balanced_accuracy=balanced[kept],
        release_only_epoch=kept + 1,
        validation_balanced_accuracy_per_epoch=validated,
        validation_images=int(held.sum()),
    )


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Which training images (a boolean mask over ``labels``) the attacker with only the release
    holds out: ``round(fraction * n)`` of each class's n images, at least one and never all of
    them (none of a class of one), drawn with ``seed``. Nothing when ``fraction`` is 0 or there
    are fewer than ``MIN_IMAGES_TO_VALIDATE`` images."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
    held = np.zeros(len(labels), dtype=bool)
    if fraction <= 0 or len(labels) < MIN_IMAGES_TO_VALIDATE:
        return held
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held[rng.choice(members, size=count, replace=False)] = True
    return held


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Class indices (N,) int64 for normalised images (N, *shape) in [0, 1]."""
    model.eval()
    inputs = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    chunks = [
        model(inputs[i : i + EVAL_BATCH]).argmax(1) for i in range(0, len(inputs), EVAL_BATCH)
    ]
    return torch.cat(chunks).numpy()


def scores(predicted: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Accuracy and balanced accuracy (mean per-class recall over the classes present in
    ``true``, as ``sklearn.metrics.balanced_accuracy_score``)."""
    correct = predicted == true
    recalls = [correct[true == c].mean() for c in np.unique(true)]
    return float(correct.mean()), float(np.mean(recalls))


def class_recalls(predicted: np.ndarray, true: np.ndarray, num_classes: int) -> list[float]:
    """Recall of each class index 0..C-1 (nan for a class absent from ``true``)."""
    return [float((predicted[true == c] == c).mean()) if (true == c).any() else float("nan")
            for c in range(num_classes)]  # fmt: skip


def _countermeasure(
    countermeasure: str | Countermeasure | None, spatial_dims: int
) -> Countermeasure:
    """The countermeasure, if it has a classification form (see the module docstring)."""
    if countermeasure is None:
        countermeasure = Countermeasure()
    elif isinstance(countermeasure, str):
        countermeasure = get_countermeasure(countermeasure)
    if countermeasure.kind != "training":
        return countermeasure
    if isinstance(countermeasure, Augment) and spatial_dims == 3:
        raise ValueError(f"countermeasure {countermeasure.name!r} is 2D-only (2D MONAI transforms)")
    if not isinstance(countermeasure, (Augment, Pgd)):
        raise ValueError(
            f"countermeasure {countermeasure.name!r} has no classification form: "
            "its batch hook may assume label maps"
        )
    return countermeasure


def _preprocess(cm: Countermeasure, images: np.ndarray, spatial_dims: int) -> np.ndarray:
    """A data-side countermeasure on (N, H, W) slices, or on each (D, H, W) volume's slices."""
    if cm.kind != "data":
        return images
    if spatial_dims == 2:
        return cm.preprocess(images).astype(np.float32, copy=False)
    return np.stack([cm.preprocess(volume) for volume in images]).astype(np.float32, copy=False)


def _classification_hook(cm: Countermeasure) -> BatchHook | None:
    """PGD's hook as it is; Augment's pipeline on the image alone (dummy label map)."""
    if not isinstance(cm, Augment):
        return cm.batch_hook()
    transform = cm.transform()  # one per run: its random state is the run's

    def hook(
        model: torch.nn.Module,
        loss_fn: Callable,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dummy = torch.zeros(images.shape, dtype=torch.int64)
        augmented, _ = augment_batch(transform, images, dummy, generator)
        return augmented, labels

    return hook


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A random order of ``count`` indices in batches; a trailing single index joins the last."""
    order = torch.randperm(count, generator=generator)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _check(
    train: Sequence[Sample],
    test: Sequence[Sample],
    arch: str,
    epochs: int,
    spatial_dims: int,
    num_classes: int | None,
) -> int:
    """Validate the inputs; the number of classes."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown classifier {arch!r} (known: {', '.join(ARCHITECTURES)})")
    if epochs < 1:
        raise ValueError("need epochs >= 1")
    for name, data in (("train", train), ("test", test)):
        if len(data) == 0:
            raise ValueError(f"{name} set is empty")
        for sample in data:
            if np.ndim(sample.image) != spatial_dims:
                raise ValueError(
                    f"{name} image of shape {np.shape(sample.image)} is not {spatial_dims}D"
                )
    labels = [int(s.label) for s in (*train, *test)]
    num_classes = max(labels) + 1 if num_classes is None else num_classes
    if num_classes < 2 or min(labels) < 0 or max(labels) >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, with >= 2 classes")
    return num_classes


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
