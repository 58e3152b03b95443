"""The key-against-decoys rank test and its decoys: exact p-values, uniform under the null."""

import numpy as np
import pytest

from medue.verify.decoys import decoy_keys
from medue.verify.rank import rank_test


def test_p_value_counts_decoys_at_least_as_strong_as_the_key():
    decoys = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    assert rank_test(np.array([2.5, 2.5]), decoys).p_value == pytest.approx(2 / 5)
    assert rank_test(np.array([9.0, 9.0]), decoys).p_value == pytest.approx(1 / 5)
    assert rank_test(np.array([2.0, 2.0]), decoys).p_value == pytest.approx(
        3 / 5
    )  # a tie counts against


def test_a_suspect_that_responds_to_nothing_is_not_detected():
    result = rank_test(np.zeros(5), np.zeros((99, 5)))
    assert result.p_value == 1.0 and not result.detected and result.effect == 0.0


def test_strong_key_response_is_detected_with_effect_and_spread():
    rng = np.random.default_rng(0)
    decoys = rng.normal(0.0, 1.0, size=(999, 20))
    key = rng.normal(3.0, 1.0, size=20)
    result = rank_test(key, decoys)
    assert result.p_value == pytest.approx(1 / 1000)
    assert result.detected and result.effect > 10
    assert result.images_above > 0.9 and 0.5 < result.key_image_sd < 1.5
    assert result.as_dict()["detected"] is True


def test_p_values_are_uniform_when_key_and_decoys_are_exchangeable():
    rng = np.random.default_rng(1)
    responses = rng.normal(size=(2000, 100, 4))  # 2,000 null suspects: the key is row 0
    ps = np.array([rank_test(r[0], r[1:]).p_value for r in responses])
    assert abs(np.mean(ps <= 0.01) - 0.01) < 0.008
    assert abs(np.mean(ps <= 0.1) - 0.1) < 0.025
    assert abs(np.mean(ps <= 0.5) - 0.5) < 0.04


@pytest.mark.parametrize(
    ("key", "decoys"),
    [
        (np.zeros(3), np.zeros((5, 4))),
        (np.zeros((2, 3)), np.zeros((5, 3))),
        (np.zeros(0), np.zeros((5, 0))),
        (np.zeros(3), np.zeros((0, 3))),
        (np.array([np.nan, 0.0]), np.zeros((5, 2))),
    ],
)
def test_bad_shapes_and_values_are_refused(key, decoys):
    with pytest.raises(ValueError):
        rank_test(key, decoys)


def test_decoys_are_derived_from_the_key_deterministically_and_distinct():
    key = bytes(range(32))
    first, again = decoy_keys(key, 50), decoy_keys(key, 50)
    assert first == again and len(set(first)) == 50 and key not in first
    assert all(len(d) == 32 for d in first)
    assert decoy_keys(bytes(32), 50) != first
    with pytest.raises(ValueError):
        decoy_keys(key, 0)
