"""Class presence: nothing on the reference class, one stripe orientation per other class, within
the budget (mixed steps too), saved as JSON that loads back to the same release."""

from __future__ import annotations

import numpy as np
import pytest

from medue.budget import Budget
from medue.errors import InputError
from medue.intensity import Window
from medue.methods import FitOptions, fit_method, load_perturber
from medue.methods.patterns import checkerboard
from medue.prepare import PreparedCase

NAMES = ("normal", "viral", "bacterial")
WINDOW = Window(0.0, 255.0)


def case(category: int, budget: Budget | None = None, shape=(1, 6, 8)) -> PreparedCase:
    everything = np.ones(shape, dtype=bool)
    return PreparedCase(
        image_id=f"i{category}", image=np.full(shape, 0.5, np.float32),
        classes=np.full(shape, category + 1, np.uint8), band=np.zeros(shape, bool),
        interior=everything, texture=np.zeros(shape, np.float32),
        budget=budget or Budget(2.0, 1.0, WINDOW), extra={"category": category},
    )  # fmt: skip


def presence(reference: str | None = None, names=NAMES):
    options = FitOptions(class_names=names, key=bytes(32), reference_class=reference)
    return fit_method("pattern-presence", [], options)


def test_the_reference_is_untouched_and_the_others_get_rows_then_columns():
    perturber = presence()
    epsilon = WINDOW.native_to_delta(2.0)
    assert not presence().perturb(case(0)).any()
    for category, orientation in ((1, 1), (2, 2)):
        delta = perturber.perturb(case(category))
        np.testing.assert_allclose(delta[0], epsilon * checkerboard((6, 8), 2, orientation))
    volume = perturber.perturb(case(1, shape=(3, 6, 8)))
    assert (volume == volume[:1]).all()  # the same plane on every slice


def test_a_named_reference_class_shifts_the_orientations():
    perturber = presence("viral")
    assert perturber.describe()["stripes"] == {"normal": "rows", "bacterial": "columns"}
    assert not perturber.perturb(case(1)).any()


def test_the_key_does_not_change_the_stripes():
    other = fit_method("pattern-presence", [], FitOptions(class_names=NAMES, key=b"\1" * 32))
    np.testing.assert_array_equal(other.perturb(case(2)), presence().perturb(case(2)))


def test_mixed_steps_use_both_steps_with_the_stripes_sign():
    mixed = Budget(3.0, 1.0, WINDOW, rms_native=2.5)
    delta = presence().perturb(case(1, mixed, shape=(1, 64, 64)))[0]
    native = np.round(np.abs(delta) * 255.0, 6)
    assert set(np.unique(native)) == {2.0, 3.0}
    assert (np.sign(delta) == checkerboard((64, 64), 2, 1)).all()
    assert abs(np.sqrt(np.mean(native**2)) - 2.5) < 0.1


@pytest.mark.parametrize(
    ("names", "reference", "words"),
    [
        (("a", "b", "c", "d", "e"), None, "marks at most 4 classes"),
        (("a",), None, "needs at least 2 classes"),
        (NAMES, "covid", "--reference-class 'covid' is not a class"),
    ],
)
def test_bad_class_sets_are_refused(names, reference, words):
    with pytest.raises(InputError, match=words):
        presence(reference, names)


def test_a_saved_presence_loads_as_the_same_release(tmp_path):
    perturber = presence("bacterial")
    loaded = load_perturber(perturber.save(tmp_path / "method.json"))
    assert loaded.describe() == perturber.describe()
    np.testing.assert_array_equal(loaded.perturb(case(0)), perturber.perturb(case(0)))
