"""``medue evaluate``'s classification engine: hold-out split, the refusal of a release that is
not the clean dataset's, and both attackers in the results."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from medue.errors import InputError
from medue.evaluate.classification import (
    ClassificationSettings,
    evaluate_classification,
    hold_out,
    read_class_set,
)
from tests.methods.test_salm import write_dataset


def test_hold_out_takes_a_share_of_every_class_and_leaves_some_to_train(tmp_path):
    data = read_class_set(write_dataset(tmp_path / "d", per_class=8))
    held = hold_out(data, 0.25, seed=0)
    assert len(held) == 6
    for name in data.names:
        assert sum(1 for i in held if i.startswith(name)) == 2
    assert hold_out(data, 0.25, seed=0) == held and hold_out(data, 0.25, seed=1) != held
    train = data.subset(held, keep=False)
    assert len(train.samples) == 18 and not set(train.ids) & held


def test_a_release_of_other_images_is_refused(tmp_path):
    clean = write_dataset(tmp_path / "clean", per_class=3)
    other = tmp_path / "other"
    shutil.copytree(clean, other)
    (other / "left" / "s0_00.nii.gz").unlink()
    settings = ClassificationSettings(victims=("resnet18",), seeds=(0,), epochs=1)
    with pytest.raises(InputError, match="same images"):
        evaluate_classification(clean, other, None, tmp_path / "out", settings)


def test_rows_the_table_refuses_are_left_out_as_protect_leaves_them_out(tmp_path):
    clean = write_dataset(tmp_path / "clean", per_class=3)
    (clean / "left" / "notes.nii.gz").write_text("not an image")  # a class folder's bad file
    data = read_class_set(clean)
    assert len(data.ids) == 9 and not any("notes" in i for i in data.ids)


def test_results_show_both_attackers(tmp_path):
    clean = write_dataset(tmp_path / "clean", per_class=6)
    test = write_dataset(tmp_path / "test", per_class=2, seed=9)
    settings = ClassificationSettings(victims=("resnet18",), seeds=(0, 1), epochs=2)
    assert settings.validation_fraction == 0.2
    results = evaluate_classification(clean, clean, test, tmp_path / "out", settings)
    (row,) = results["rows"]
    for side in ("clean", "protected"):
        stats = row[side]
        assert stats["seeds"] == 2 and stats["seed_numbers"] == [0, 1]
        for key in ("release_only_accuracy", "best_accuracy", "final_accuracy"):
            assert 0 <= stats[key][0] <= 1, key
        assert len(stats["release_only_accuracy_per_seed"]) == 2
        assert stats["best_accuracy"][0] >= stats["release_only_accuracy"][0]
    runs = json.loads((tmp_path / "out" / "runs.json").read_text())
    assert len(runs) == 4
    for run in runs.values():  # 0.2 of each class's 6 images held out, per seed
        assert (
            run["validation_images"] == 3
            and len(run["validation_balanced_accuracy_per_epoch"]) == 2
        )
        assert (
            run["release_only_accuracy"] == run["accuracy_per_epoch"][run["release_only_epoch"] - 1]
        )
    table = (tmp_path / "out" / "results.md").read_text()
    assert "protected acc, release-only attacker" in table
    assert "protected acc, early-stops on clean" in table
    assert "protected acc, last model" in table
    other = replace(settings, validation_fraction=0.0)  # another split: trained again, not reused
    evaluate_classification(clean, clean, test, tmp_path / "out", other)
    assert len(json.loads((tmp_path / "out" / "runs.json").read_text())) == 8
