"""Both attackers are measured and shown: the one with only the release (model kept by a
validation split of the release) and the one who early-stops on clean data."""

from __future__ import annotations

import numpy as np
import pytest

from medue.evaluate import SliceSet, VictimConfig, train_victim
from medue.evaluate.countermeasures import Countermeasure
from medue.evaluate.patch_victim import StepSchedule, train_patch_victim
from medue.evaluate.tables import markdown, summarise
from medue.evaluate.victim import VictimResult, hold_out, image_of
from tests.conftest import torch_threads


def slices(images: int, per_image: int = 2, size: int = 16) -> SliceSet:
    """``images`` images of ``per_image`` slices each; slice ids ``case<i>/z<k>`` as volumes give.
    The target is a bright square, so a UNet learns it within a few epochs."""
    rng = np.random.default_rng(0)
    ids = [f"case{i}/z{k}" for i in range(images) for k in range(per_image)]
    arrays = rng.normal(0.3, 0.05, (len(ids), size, size)).astype(np.float32)
    labels = np.zeros((len(ids), size, size), np.int64)
    for n in range(len(ids)):
        y, x = rng.integers(2, size - 8, 2)
        arrays[n, y : y + 6, x : x + 6] += 0.5
        labels[n, y : y + 6, x : x + 6] = 1
    return SliceSet(arrays, labels, ids)


def test_hold_out_takes_whole_images_reproducibly() -> None:
    data = slices(10, per_image=3)
    train, validation = hold_out(data, 0.2, seed=5)
    held = {image_of(i) for i in validation.ids}
    assert len(held) == 2 and not held & {image_of(i) for i in train.ids}
    assert len(train) + len(validation) == len(data) and len(validation) == 6
    row = data.ids.index(validation.ids[0])
    np.testing.assert_array_equal(validation.images[0], data.images[row])
    assert hold_out(data, 0.2, seed=5)[1].ids == validation.ids
    assert any(hold_out(data, 0.2, seed=s)[1].ids != validation.ids for s in range(6, 12))


def test_too_few_images_or_no_fraction_hold_nothing_out() -> None:
    assert hold_out(slices(3), 0.2, seed=0)[1] is None  # the attacker keeps its last model
    data = slices(8)
    assert hold_out(data, 0.0, seed=0)[1] is None
    assert hold_out(data, 0.9, seed=0)[0].ids  # at least one image is left to train on


def test_each_attacker_keeps_its_own_epoch() -> None:
    scores, validation = [0.2, 0.9, 0.5, 0.4], [0.1, 0.3, 0.8, 0.6]
    result = VictimResult.from_curves(scores, [1.0] * 4, 1.0, Countermeasure(), validation)
    assert (result.best_dsc, result.best_epoch) == (0.9, 2)  # early stops on clean data
    assert (result.release_only_dsc, result.release_only_epoch) == (0.5, 3)  # its validation
    assert result.final_dsc == 0.4
    without = VictimResult.from_curves(scores, [1.0] * 4, 1.0, Countermeasure())
    assert (without.release_only_dsc, without.release_only_epoch) == (0.4, 4)  # last model


def test_a_victim_run_scores_its_validation_split_every_epoch() -> None:
    train, test = slices(10), slices(4)
    config = VictimConfig(epochs=3, num_classes=2, seed=1, validation_fraction=0.2)
    with torch_threads(1):
        result = train_victim(train, test, config)
    assert len(result.validation_dsc_per_epoch) == 3 and len(result.validation_ids) == 2
    epoch = int(np.argmax(result.validation_dsc_per_epoch))
    assert result.release_only_epoch == epoch + 1
    assert result.release_only_dsc == result.dsc_per_epoch[epoch]


def record(source: str, best: float, release_only: float, seed: int = 0) -> dict:
    spec = {"source": source, "victim": "unet", "countermeasure": "none", "seed": seed}
    return {"spec": spec, "best_dsc": best, "final_dsc": best, "release_only_dsc": release_only}


def test_tables_show_both_attackers_with_their_ratios() -> None:
    records = [record("clean", 0.8, 0.7), record("protected", 0.4, 0.07)]
    (row,) = summarise(records)
    assert row.ratio == pytest.approx(0.5) and row.ratio_release_only == pytest.approx(0.1)
    assert row.as_dict()["ratio_release_only"] == pytest.approx(0.1)
    table = markdown([row])
    assert "release only: protected / clean" in table and "| 10% |" in table
    assert "early-stops on clean: protected / clean" in table and "| 50% |" in table


def test_the_patch_victim_trains_by_steps_and_scores_at_a_fixed_interval() -> None:
    train, test = slices(8, size=32), slices(3, size=32)
    config = VictimConfig(epochs=1, num_classes=2, seed=0, validation_fraction=0.25)
    schedule = StepSchedule(steps=25, eval_every=10, patch=16, batch_size=4)
    outside = np.zeros_like(test.labels)  # a mask that hides every test voxel
    with torch_threads(1):
        result = train_patch_victim(train, test, config, schedule)
        hidden = train_patch_victim(train, test, config, schedule, test_mask=outside)
    assert result.eval_steps == [10, 20, 25] and len(result.dsc_per_epoch) == 3
    assert len(result.validation_dsc_per_epoch) == 3 and len(result.validation_ids) == 2
    kept = int(np.argmax(result.validation_dsc_per_epoch))
    assert result.release_only_dsc == result.dsc_per_epoch[kept]
    assert result.loss_per_epoch[-1] < result.loss_per_epoch[0]
    assert 0.0 < result.best_dsc < 1.0
    assert hidden.dsc_per_epoch == [1.0, 1.0, 1.0]  # nothing left to find, nothing predicted
