"""The classification victim learns a learnable task, not a shuffled one, and is reproducible.

Data: a toy task in native int16 units, 32x32 noise (mean 100, SD 20) with a bright 8x8 square
(+400) whose column third is the class (3 classes, random row and offset): 54 training images (a
multiple of 9, so that shuffling spreads every class evenly over the labels), 30 test images.

Measured over training seeds 0-4 and three CPU paths (default AVX-512; ATEN_CPU_CAPABILITY=default
with ONEDNN_MAX_CPU_ISA=SSE41; AVX2), one thread, batch 8:

* ResNet-18, 14 epochs: best accuracy 1.0 in all 15 runs, >= 0.9 first at epoch 7-11. Its
  eval-mode accuracy sits at chance for the first 4-6 epochs although the training loss is already
  near 0 (BatchNorm's running statistics need ~50 steps, 7 an epoch, before eval mode follows
  training), and where it ends after fewer steps depends on the floating-point path: after 8 epochs
  of 48 images it ended anywhere between 0.40 and 0.90, hence 14 epochs.
* DenseNet-121, 6 epochs: best accuracy 0.967-1.0, >= 0.9 first at epoch 3-4.
* Shuffled labels (DenseNet-121, 5 epochs): mean accuracy over the epochs 0.23-0.40, last epoch
  0.13-0.43; the best single epoch reached 0.63 once (a network fitting random labels still maps
  the square's position to some label, which can match the truth for two of the three classes), so
  the mean and the last epoch are bounded, not the best.

Each run 5-25 s on a busy shared 2-core CPU (the ResNet-18 the longest).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from medue.evaluate import classifier_victim
from medue.evaluate.classifier_victim import (
    Sample,
    build_classifier,
    fit_shape,
    normalise_image,
    prepare,
    scores,
    train_victim,
    validation_split,
)
from medue.evaluate.countermeasures import SliceCountermeasure
from tests.conftest import torch_threads


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Others share this CPU."""
    with torch_threads(1):
        yield


def toy(count: int, seed: int, size: int = 32) -> list[Sample]:
    """Image i has class i % 3: a bright square in that column third of the image."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        label = i % 3
        image = rng.normal(100.0, 20.0, (size, size))
        row = rng.integers(2, size - 10)
        column = label * size // 3 + rng.integers(0, size // 3 - 8)
        image[row : row + 8, column : column + 8] += 400.0
        samples.append(Sample(np.round(image).astype(np.int16), label))
    return samples


def shuffled(samples: list[Sample]) -> list[Sample]:
    """Labels independent of the images: each true class spread evenly over all labels.

    Even only for a multiple of 9 images: with 48, each class got its own label 6 times and each
    other label 5 times, a bias towards the truth a network can learn.
    """
    assert len(samples) % 9 == 0, len(samples)
    return [Sample(s.image, (s.label + i // 3) % 3) for i, s in enumerate(samples)]


@pytest.fixture(scope="module")
def task() -> tuple[list[Sample], list[Sample]]:
    return toy(54, seed=0), toy(30, seed=1)


@pytest.mark.parametrize(("arch", "epochs"), [("resnet18", 14), ("densenet121", 6)])
def test_learnable_task_reaches_high_accuracy(task, arch: str, epochs: int) -> None:
    train, test = task
    run = train_victim(train, test, arch, seed=0, epochs=epochs, batch_size=8)
    assert run.best_accuracy >= 0.9, run.accuracy_per_epoch  # measured: >= 0.967
    assert run.best_balanced_accuracy >= 0.9
    # The task is learnt within the first epoch and later epochs jump (Adam, batches of 8), so
    # the last epoch's loss was not always below the first's; its minimum was 0.002-0.11 of it.
    assert min(run.loss_per_epoch) < 0.25 * run.loss_per_epoch[0], run.loss_per_epoch
    assert len(run.accuracy_per_epoch) == len(run.balanced_accuracy_per_epoch) == epochs
    assert run.best_accuracy == max(run.accuracy_per_epoch)
    assert run.final_accuracy == run.accuracy_per_epoch[-1]
    assert run.best_balanced_accuracy == run.balanced_accuracy_per_epoch[run.best_epoch - 1]
    assert run.chance == pytest.approx(1 / 3)
    assert run.majority == pytest.approx(10 / 30)
    assert run.num_classes == 3 and run.shape == (32, 32)


def test_shuffled_labels_stay_near_chance(task) -> None:
    train, test = task
    run = train_victim(shuffled(train), test, "densenet121", seed=0, epochs=5, batch_size=8)
    assert np.mean(run.balanced_accuracy_per_epoch) < 0.5, run.balanced_accuracy_per_epoch
    assert run.final_accuracy < 0.6  # measured: mean <= 0.40, last epoch <= 0.43


def test_same_seed_same_numbers_other_seed_other_numbers(task) -> None:
    train, test = task[0][:24], task[1][:12]
    first, again, other = (
        train_victim(train, test, "resnet18", seed=seed, epochs=2, batch_size=8)
        for seed in (3, 3, 4)
    )
    assert first.loss_per_epoch == again.loss_per_epoch
    assert first.accuracy_per_epoch == again.accuracy_per_epoch
    assert first.balanced_accuracy_per_epoch == again.balanced_accuracy_per_epoch
    assert first.loss_per_epoch != other.loss_per_epoch


def test_fit_shape_pads_and_crops_centred() -> None:
    image = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    padded = fit_shape(image, (5, 6))
    assert padded.shape == (5, 6)
    np.testing.assert_array_equal(padded[1:4, 1:5], image)
    assert padded.sum() == image.sum()
    np.testing.assert_array_equal(fit_shape(image, (1, 2)), image[1:2, 1:3])
    np.testing.assert_array_equal(fit_shape(image, (4, 2)), np.pad(image[:, 1:3], ((0, 1), (0, 0))))
    with pytest.raises(ValueError, match="cannot take shape"):
        fit_shape(image, (3, 4, 5))


def test_normalisation_and_common_shape() -> None:
    as_uint8 = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    np.testing.assert_allclose(normalise_image(as_uint8), as_uint8 / 255.0)
    ct = np.linspace(-1000, 1000, 32 * 40).reshape(32, 40).astype(np.int16)
    assert normalise_image(ct).min() == 0.0 and normalise_image(ct).max() == 1.0
    images, labels = prepare([Sample(ct, 1), Sample(ct[:20, :24], 0)], (32, 40))
    assert images.shape == (2, 32, 40) and images.dtype == np.float32
    assert labels.tolist() == [1, 0]
    train = [Sample(ct, i % 2) for i in range(4)]
    test = [Sample(np.zeros((36, 24), np.int16) + np.eye(36, 24, dtype=np.int16), 1)]
    run = train_victim(train, test, "resnet18", seed=0, epochs=1)
    assert run.shape == (36, 40)  # the largest extent of each axis over train and test


def test_scores_accuracy_and_balanced_accuracy() -> None:
    true = np.array([0, 0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 0, 0, 0, 1])
    accuracy, balanced = scores(predicted, true)
    assert accuracy == pytest.approx(5 / 6)
    assert balanced == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.parametrize("arch", ["resnet18", "densenet121"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_build_classifier_gives_logits(arch: str, spatial_dims: int) -> None:
    model = build_classifier(arch, spatial_dims, num_classes=4).eval()
    with torch.no_grad():
        logits = model(torch.zeros((2, 1) + (32,) * spatial_dims))
    assert logits.shape == (2, 4)


def test_densenet_pads_small_images_to_what_it_can_pool() -> None:
    small = [Sample(image[:28, :28], s.label) for s in toy(6, 0) for image in [s.image]]
    run = train_victim(small, small[:3], "densenet121", 0, 1, batch_size=6)
    assert run.shape == (32, 32)  # 28x28 fails in DenseNet-121's last transition's pooling
    assert train_victim(small, small[:3], "resnet18", 0, 1, batch_size=6).shape == (28, 28)


def test_3d_volumes_train() -> None:
    rng = np.random.default_rng(0)
    volumes = [Sample(rng.normal(0, 1, (8, 32, 32)).astype(np.float32), i % 2) for i in range(6)]
    run = train_victim(volumes, volumes[:2], "resnet18", 0, 1, batch_size=4, spatial_dims=3)
    assert run.shape == (8, 32, 32) and len(run.accuracy_per_epoch) == 1
    with pytest.raises(ValueError, match="is not 3D"):
        train_victim(toy(4, 0), toy(2, 1), "resnet18", 0, 1, spatial_dims=3)


@dataclass(frozen=True, kw_only=True)
class Recording(SliceCountermeasure):
    """A data-side countermeasure that inverts slices and records what it was given."""

    name: str = "recording"
    seen: list = None  # type: ignore[assignment]

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        self.seen.append(images.copy())
        return super().preprocess(images)

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        return 1.0 - image


def test_data_countermeasure_sees_the_normalised_training_images_only(task) -> None:
    train, test = task[0][:12], task[1][:6]
    recording = Recording(seen=[])
    run = train_victim(train, test, "resnet18", 0, 1, countermeasure=recording)
    (seen,) = recording.seen
    expected, _ = prepare(train, (32, 32))
    np.testing.assert_array_equal(seen, expected)
    assert run.countermeasure["name"] == "recording" and run.countermeasure["kind"] == "data"
    clean = train_victim(train, test, "resnet18", 0, 1)
    assert run.loss_per_epoch != clean.loss_per_epoch  # the inverted images were trained on


@pytest.mark.parametrize("name", ["median", "jpeg", "augment", "pgd"])
def test_registered_countermeasures_run(task, name: str) -> None:
    train, test = task[0][:12], task[1][:6]
    run = train_victim(train, test, "resnet18", 0, 1, batch_size=6, countermeasure=name)
    assert run.countermeasure["name"] == name
    assert np.isfinite(run.loss_per_epoch).all()


def test_augment_is_refused_in_3d() -> None:
    volume = [Sample(np.zeros((8, 32, 32), np.float32), i % 2) for i in range(2)]
    with pytest.raises(ValueError, match="2D-only"):
        train_victim(volume, volume, "resnet18", 0, 1, countermeasure="augment", spatial_dims=3)


def test_bad_inputs_are_refused(task) -> None:
    train, test = task
    with pytest.raises(ValueError, match="unknown classifier"):
        train_victim(train, test, "vgg", 0, 1)
    with pytest.raises(ValueError, match="labels must lie"):
        train_victim(train, test, "resnet18", 0, 1, num_classes=2)
    with pytest.raises(ValueError, match="unknown countermeasure"):
        train_victim(train, test, "resnet18", 0, 1, countermeasure="nope")


def test_validation_split_holds_out_a_share_of_each_class() -> None:
    labels = np.array([0] * 10 + [1] * 20 + [2] * 1)
    held = validation_split(labels, 0.2, seed=0)
    assert held.dtype == bool and held.shape == labels.shape
    assert [int(held[labels == c].sum()) for c in (0, 1, 2)] == [2, 4, 0]  # never all of a class
    np.testing.assert_array_equal(validation_split(labels, 0.2, seed=0), held)
    assert not np.array_equal(validation_split(labels, 0.2, seed=1), held)
    assert not validation_split(labels, 0.0, seed=0).any()
    assert not validation_split(labels[:3], 0.5, seed=0).any()  # too few images to validate
    with pytest.raises(ValueError, match="validation_fraction"):
        validation_split(labels, 1.0, seed=0)


def test_held_out_images_are_not_trained_on(task, monkeypatch) -> None:
    counts = []
    batches = classifier_victim._batches

    def recorded(count, batch_size, generator):
        counts.append(count)
        return batches(count, batch_size, generator)

    monkeypatch.setattr(classifier_victim, "_batches", recorded)
    train, test = task[0][:24], task[1][:6]
    run = train_victim(train, test, "resnet18", 0, 2, batch_size=8, validation_fraction=0.25)
    assert run.validation_images == 6 and counts == [18, 18]  # 2 of each class's 8 held out
    assert len(run.validation_balanced_accuracy_per_epoch) == 2
    assert all(0 <= v <= 1 for v in run.validation_balanced_accuracy_per_epoch)
    counts.clear()
    plain = train_victim(train, test, "resnet18", 0, 1, batch_size=8)
    assert counts == [24] and plain.validation_images == 0
    assert plain.validation_balanced_accuracy_per_epoch == []
    assert plain.release_only_epoch == 1  # without a validation split: the last model


def test_each_attacker_keeps_its_own_epoch(task, monkeypatch) -> None:
    """Scripted predictions: the clean test set is best at epoch 1, the held-out part of the
    release at epoch 3, the last epoch is 4; each attacker must report its own epoch's scores."""
    train, test = task[0][:24], task[1][:9]  # 6 held out: told apart by size
    test_labels = np.array([s.label for s in test])
    test_right = iter([9, 4, 3, 6])  # test images right per epoch
    valid_right = iter([1, 2, 6, 3])  # held-out images right per epoch

    def scripted(model, images):
        labels = test_labels if len(images) == len(test) else held_labels[0]
        right = next(test_right if len(images) == len(test) else valid_right)
        return np.where(np.arange(len(labels)) < right, labels, (labels + 1) % 3)

    split = classifier_victim.validation_split
    held_labels = []

    def recording_split(labels, fraction, seed):
        held = split(labels, fraction, seed)
        held_labels.append(labels[held])
        return held

    monkeypatch.setattr(classifier_victim, "predict", scripted)
    monkeypatch.setattr(classifier_victim, "validation_split", recording_split)
    run = train_victim(train, test, "resnet18", 0, 4, batch_size=8, validation_fraction=0.25)
    assert run.accuracy_per_epoch == pytest.approx([1.0, 4 / 9, 3 / 9, 6 / 9])
    assert run.best_epoch == 1 and run.best_accuracy == 1.0  # early-stops on clean
    assert run.release_only_epoch == 3  # best on the release's held-out images
    assert run.release_only_accuracy == pytest.approx(3 / 9)
    assert run.release_only_balanced_accuracy == run.balanced_accuracy_per_epoch[2]
    assert run.final_accuracy == pytest.approx(6 / 9)  # the last model
    assert np.argmax(run.validation_balanced_accuracy_per_epoch) == 2


def test_fine_tuning_starts_from_the_given_weights(task) -> None:
    """The attacker who fine-tunes: with a zero learning rate, training leaves the given state
    exactly as it was (and a model from scratch differs from it)."""
    train, test = task[0][:18], task[1][:6]
    start = build_classifier("resnet18", 2, 3).state_dict()
    start = {name: value + 0.01 if value.is_floating_point() else value
             for name, value in start.items()}  # fmt: skip
    kept: dict[int, dict] = {}

    def keep(epoch: int, model: torch.nn.Module) -> None:
        kept[epoch] = {n: v.clone() for n, v in model.state_dict().items()}

    train_victim(train, test, "resnet18", 0, 1, batch_size=8, lr=0.0, on_epoch=keep,
                 initial_state=start)  # fmt: skip
    weights = [n for n, v in start.items() if n.endswith("weight") and v.dim() > 1]
    assert all(torch.equal(kept[1][n], start[n]) for n in weights)
    train_victim(train, test, "resnet18", 0, 1, batch_size=8, lr=0.0, on_epoch=keep)
    assert not torch.equal(kept[1][weights[0]], start[weights[0]])
