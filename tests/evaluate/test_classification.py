"""``medue evaluate``'s classification engine: hold-out split and the refusal of a release that is
not the clean dataset's."""

from __future__ import annotations

import shutil

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
