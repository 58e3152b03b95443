"""Windows and the rounding step that decides whether a perturbation survives being saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medue.errors import InputError
from medue.intensity import Window, apply_within_budget, default_window
from medue.io import StoredEncoding, read_volume, write_volume


def test_ct_window_is_clinical_and_mr_uses_percentiles(sample_dataset: Path):
    ct = read_volume(sample_dataset / "lung1.nii.gz")
    window = default_window(ct.array, ct.modality)
    assert (window.low, window.high) == (-160.0, 240.0)
    mr = read_volume(sample_dataset / "brain1.nii.gz")
    mr_window = default_window(mr.array, mr.modality)
    inside = (mr.array >= mr_window.low) & (mr.array <= mr_window.high)
    assert 0.9 < inside[mr.array > mr.array.min()].mean() < 1.0


def test_normalise_denormalise_inside_the_window(sample_dataset: Path):
    ct = read_volume(sample_dataset / "lung1.nii.gz")
    window = default_window(ct.array, "CT")
    normalised = window.normalise(ct.array)
    assert normalised.min() == 0.0 and normalised.max() == 1.0
    inside = (ct.array > window.low) & (ct.array < window.high)
    np.testing.assert_allclose(window.denormalise(normalised)[inside], ct.array[inside], atol=1e-3)
    assert window.native_to_delta(6.0) == pytest.approx(6.0 / 400.0)
    assert window.delta_to_native(np.array([0.015]))[0] == pytest.approx(6.0)


def test_bad_window_is_refused():
    with pytest.raises(InputError, match="invalid intensity window"):
        Window(10.0, 10.0)
    with pytest.raises(InputError, match="unknown CT window"):
        default_window(np.zeros(3), "CT", ct_window="liverish")


@pytest.mark.parametrize(
    "encoding",
    [
        StoredEncoding(np.dtype("uint8")),
        StoredEncoding(np.dtype("int16")),
        StoredEncoding(np.dtype("int16"), slope=2.0, intercept=-1024.0),
        StoredEncoding(np.dtype("float32")),
    ],
    ids=["uint8", "int16", "int16-slope2", "float32"],
)
def test_budget_holds_after_rounding(encoding: StoredEncoding):
    rng = np.random.default_rng(0)
    low, high = (0, 255) if encoding.stored_dtype == np.uint8 else (-1000, 1000)
    original = encoding.quantise(rng.integers(low, high, size=(4, 32, 32)).astype(np.float64))
    epsilon = 2.5
    change = rng.uniform(-4, 4, size=original.shape)  # larger than the budget on purpose
    protected = apply_within_budget(original, change, epsilon, encoding)
    assert np.abs(protected - original).max() <= epsilon
    np.testing.assert_array_equal(encoding.quantise(protected), protected)  # storable as is
    assert np.count_nonzero(protected != original) > original.size / 2  # and not rounded away


def test_budget_holds_on_the_written_file(sample_dataset: Path, tmp_path):
    volume = read_volume(sample_dataset / "brain1.nii.gz")
    change = np.random.default_rng(1).uniform(-3.7, 3.7, size=volume.shape)
    protected = apply_within_budget(volume.array, change, 3.0, volume.encoding)
    again = read_volume(write_volume(volume.with_array(protected), tmp_path / "p.nii.gz"))
    diff = np.abs(again.array.astype(np.float64) - volume.array)
    assert diff.max() <= 3.0
    assert np.count_nonzero(diff) > volume.array.size / 2
