"""Check medue.metrics against independent references on a real image.

The data is the MNI152 T1 template (2 mm) that ships inside the nilearn wheel (no download):
a real brain MR average, so SSIM sees real anatomy rather than synthetic blobs. MONAI is the
reference for Dice, which the module computes itself. PSNR and SSIM are scikit-image's inside
the module too, so comparing with plain scikit-image calls checks what the module adds: the
mask, the explicit range, identical images, and SSIM computed only around the changed voxels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import compute_dice
from nilearn import datasets as nilearn_datasets
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from medue import metrics

SEED = 20240611


@pytest.fixture(scope="module")
def mni_uint8() -> np.ndarray:
    """The MNI152 T1 template as uint8 (z, y, x); nilearn stores it as 8-bit scaled to [0, 1]."""
    img = nilearn_datasets.load_mni152_template(resolution=2)
    data = np.asarray(img.get_fdata(), dtype=np.float64)
    volume = np.round(data * 255.0).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.transpose(volume, (2, 1, 0)))


@pytest.fixture(scope="module")
def mni_float(mni_uint8: np.ndarray) -> np.ndarray:
    """The template as float64 in [0, 1], the form most models consume."""
    return mni_uint8.astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def brain_mask(mni_uint8: np.ndarray) -> np.ndarray:
    """Head mask from thresholding the template: a real, irregular 3D region."""
    return mni_uint8 > 40


def _plus_minus_noise(shape: tuple[int, ...], k: float, seed: int = SEED) -> np.ndarray:
    """Seeded random +/-k pattern, the shape of a typical L-inf-bounded perturbation."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-k, k]), size=shape)


def _perturb_uint8(image: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Add +/-k noise (optionally only inside mask) and clip back to uint8."""
    noise = _plus_minus_noise(image.shape, k)
    if mask is not None:
        noise = noise * mask
    return np.clip(image.astype(np.int32) + noise.astype(np.int32), 0, 255).astype(np.uint8)


def _perturb_float(image: np.ndarray, eps: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Add +/-eps noise in float (optionally only inside mask) and clip to [0, 1]."""
    noise = _plus_minus_noise(image.shape, eps)
    if mask is not None:
        noise = noise * mask
    return np.clip(image + noise, 0.0, 1.0)


# --- PSNR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 4, 8])
def test_psnr_matches_skimage_uint8_3d(mni_uint8: np.ndarray, k: int) -> None:
    test = _perturb_uint8(mni_uint8, k)
    expected = peak_signal_noise_ratio(mni_uint8, test, data_range=255)
    assert metrics.psnr(mni_uint8, test, data_range=255) == pytest.approx(expected, rel=1e-9)


def test_psnr_matches_skimage_float_masked_perturbation(
    mni_float: np.ndarray, brain_mask: np.ndarray
) -> None:
    test = _perturb_float(mni_float, 8 / 255, mask=brain_mask)
    expected = peak_signal_noise_ratio(mni_float, test, data_range=1.0)
    assert metrics.psnr(mni_float, test, data_range=1.0) == pytest.approx(expected, rel=1e-9)


def test_psnr_mask_restricts_to_region(mni_float: np.ndarray, brain_mask: np.ndarray) -> None:
    # Perturbation only inside the mask: masked PSNR equals skimage PSNR on the masked voxels,
    # and is lower than whole-image PSNR (the untouched background dilutes the MSE).
    test = _perturb_float(mni_float, 8 / 255, mask=brain_mask)
    expected = peak_signal_noise_ratio(mni_float[brain_mask], test[brain_mask], data_range=1.0)
    inside = metrics.psnr(mni_float, test, data_range=1.0, mask=brain_mask)
    assert inside == pytest.approx(expected, rel=1e-9)
    assert inside < metrics.psnr(mni_float, test, data_range=1.0)


def test_psnr_plus_minus_one_at_255_is_48_13_db() -> None:
    # MSE = 1, so PSNR = 20*log10(255) = 48.1308 dB.
    ref = np.full((32, 32), 100, dtype=np.uint8)
    test = ref.astype(np.int16) + _plus_minus_noise(ref.shape, 1).astype(np.int16)
    assert metrics.psnr(ref, test, data_range=255) == pytest.approx(48.13, abs=5e-3)
    assert metrics.psnr(ref, test, data_range=255) == pytest.approx(20 * math.log10(255))


def test_psnr_depends_on_data_range_by_tens_of_db(mni_float: np.ndarray) -> None:
    test = _perturb_float(mni_float, 8 / 255)
    narrow = metrics.psnr(mni_float, test, data_range=0.1)
    wide = metrics.psnr(mni_float, test, data_range=10.0)
    assert wide - narrow == pytest.approx(40.0, abs=1e-9)


def test_psnr_identical_is_inf(mni_uint8: np.ndarray) -> None:
    assert metrics.psnr(mni_uint8, mni_uint8.copy(), data_range=255) == math.inf


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_psnr_rejects_bad_data_range(bad: float) -> None:
    a = np.zeros((4, 4))
    with pytest.raises(ValueError, match="data_range"):
        metrics.psnr(a, a + 1, data_range=bad)


def test_psnr_rejects_bad_mask() -> None:
    a = np.zeros((4, 4))
    with pytest.raises(ValueError, match="no voxels"):
        metrics.psnr(a, a + 1, data_range=1.0, mask=np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="boolean"):
        metrics.psnr(a, a + 1, data_range=1.0, mask=np.ones((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 4\)"):
        metrics.psnr(a, a + 1, data_range=1.0, mask=np.ones((3, 4), dtype=bool))


# --- SSIM ---------------------------------------------------------------------------------------


def _skimage_ssim(ref: np.ndarray, test: np.ndarray, data_range: float) -> float:
    return structural_similarity(
        ref,
        test,
        data_range=data_range,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )


@pytest.mark.parametrize("k", [2, 8, 32])
def test_ssim_2d_matches_skimage(mni_uint8: np.ndarray, k: int) -> None:
    ref = mni_uint8[mni_uint8.shape[0] // 2]
    test = _perturb_uint8(ref, k)
    expected = _skimage_ssim(ref, test, 255)
    assert metrics.ssim(ref, test, data_range=255) == pytest.approx(expected, abs=1e-6)


def test_ssim_3d_matches_skimage_float(mni_float: np.ndarray) -> None:
    test = _perturb_float(mni_float, 8 / 255)
    expected = _skimage_ssim(mni_float, test, 1.0)
    assert metrics.ssim(mni_float, test, data_range=1.0) == pytest.approx(expected, abs=1e-6)


def test_ssim_3d_matches_skimage_masked_uint8(
    mni_uint8: np.ndarray, brain_mask: np.ndarray
) -> None:
    test = _perturb_uint8(mni_uint8, 8, mask=brain_mask)
    expected = _skimage_ssim(mni_uint8, test, 255)
    assert metrics.ssim(mni_uint8, test, data_range=255) == pytest.approx(expected, abs=1e-6)


def test_ssim_other_sigma_matches_skimage(mni_float: np.ndarray) -> None:
    ref = mni_float[:, :, mni_float.shape[2] // 2]
    test = _perturb_float(ref, 4 / 255)
    expected = structural_similarity(
        ref, test, data_range=1.0, gaussian_weights=True, sigma=0.8, use_sample_covariance=False
    )
    assert metrics.ssim(ref, test, data_range=1.0, sigma=0.8) == pytest.approx(expected, abs=1e-6)


def test_ssim_identical_is_one(mni_float: np.ndarray) -> None:
    assert metrics.ssim(mni_float, mni_float.copy(), data_range=1.0) == pytest.approx(
        1.0, abs=1e-12
    )


def test_ssim_rejects_too_small_input() -> None:
    # Window for sigma 1.5 is 11: a 10-voxel axis leaves nothing after the border crop.
    a = np.zeros((10, 40))
    with pytest.raises(ValueError, match=r"too small.*at least 11"):
        metrics.ssim(a, a, data_range=1.0)
    with pytest.raises(ValueError, match="too small"):
        metrics.ssim(np.zeros((5, 64, 64)), np.zeros((5, 64, 64)), data_range=1.0)


def test_ssim_slices_is_mean_of_2d_skimage(mni_uint8: np.ndarray) -> None:
    # A thick-slice stack (5 slices) too thin for 3D SSIM but fine slice-wise.
    ref = mni_uint8[40:45]
    test = _perturb_uint8(ref, 8)
    expected = np.mean([_skimage_ssim(r, t, 255) for r, t in zip(ref, test, strict=True)])
    got = metrics.ssim_slices(ref, test, data_range=255, axis=0)
    assert got == pytest.approx(expected, abs=1e-6)
    ref_y = np.moveaxis(ref, 0, 1)
    test_y = np.moveaxis(test, 0, 1)
    assert metrics.ssim_slices(ref_y, test_y, data_range=255, axis=1) == pytest.approx(
        metrics.ssim_slices(ref, test, data_range=255, axis=0), abs=1e-12
    )


# --- native-unit changes ------------------------------------------------------------------------


def test_change_metrics_uint8_no_overflow() -> None:
    # 10 - 250 would wrap to 16 in uint8; the true change is 240 (and 250 - 0 = 250 stays).
    ref = np.array([[10, 250], [0, 255]], dtype=np.uint8)
    test = np.array([[250, 10], [255, 0]], dtype=np.uint8)
    assert metrics.max_abs_change(ref, test) == 255.0
    assert metrics.rms_change(ref, test) == pytest.approx(math.sqrt((240**2 * 2 + 255**2 * 2) / 4))
    assert metrics.psnr(ref, test, data_range=255) == pytest.approx(
        peak_signal_noise_ratio(ref, test, data_range=255), rel=1e-9
    )


def test_change_metrics_int16_no_overflow() -> None:
    ref = np.array([-30000, 30000], dtype=np.int16)
    test = np.array([30000, -30000], dtype=np.int16)
    assert metrics.max_abs_change(ref, test) == 60000.0
    assert metrics.rms_change(ref, test) == 60000.0


def test_change_metrics_on_real_perturbation(mni_uint8: np.ndarray, brain_mask: np.ndarray) -> None:
    test = _perturb_uint8(mni_uint8, 6, mask=brain_mask)
    diff = test.astype(np.float64) - mni_uint8.astype(np.float64)
    assert metrics.max_abs_change(mni_uint8, test) == 6.0
    assert metrics.rms_change(mni_uint8, test) == pytest.approx(
        np.sqrt(np.mean(diff**2)), rel=1e-12
    )
    assert metrics.max_abs_change(mni_uint8, mni_uint8) == 0.0


# --- Dice and accuracy --------------------------------------------------------------------------


def _monai_dice(pred: np.ndarray, target: np.ndarray, labels: list[int]) -> list[float]:
    """Dice per label from MONAI's compute_dice on one-hot (B=1, C, ...) tensors."""
    p = np.stack([pred == v for v in labels])[None].astype(np.float32)
    t = np.stack([target == v for v in labels])[None].astype(np.float32)
    scores = compute_dice(torch.from_numpy(p), torch.from_numpy(t), include_background=True)
    return scores[0].tolist()


def test_dice_binary_matches_monai(mni_uint8: np.ndarray) -> None:
    # Two thresholds of the template: overlapping but different real-shaped masks.
    target = mni_uint8 > 80
    pred = mni_uint8 > 100
    (expected,) = _monai_dice(pred, target, [1])
    assert metrics.dice(pred, target) == pytest.approx(expected, abs=1e-6)
    assert 0.3 < expected < 0.99


def test_dice_labels_match_monai(mni_uint8: np.ndarray) -> None:
    # Label map from intensity bands (background / dark / mid / bright tissue).
    target = np.digitize(mni_uint8, [40, 90, 140]).astype(np.int64)
    shifted = np.roll(mni_uint8, 1, axis=2)
    pred = np.digitize(shifted, [40, 90, 140]).astype(np.int64)
    labels = [1, 2, 3]
    expected = _monai_dice(pred, target, labels)
    per_label = metrics.dice_per_label(pred, target, labels)
    assert list(per_label) == labels
    for v, e in zip(labels, expected, strict=True):
        assert per_label[v] == pytest.approx(e, abs=1e-6)
    assert metrics.dice(pred, target, labels=labels) == pytest.approx(np.mean(expected), abs=1e-6)


def test_dice_empty_masks_is_one() -> None:
    empty = np.zeros((8, 8, 8), dtype=bool)
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.dice_per_label(np.zeros((4, 4), int), np.zeros((4, 4), int), [2]) == {2: 1.0}


def test_dice_one_empty_is_zero() -> None:
    a = np.zeros((4, 4), dtype=bool)
    b = a.copy()
    b[1, 1] = True
    assert metrics.dice(a, b) == 0.0


def test_accuracy_hand_count() -> None:
    pred = np.array([0, 1, 2, 2, 1, 0, 3])
    true = np.array([0, 1, 1, 2, 0, 0, 3])
    # Matches at positions 0, 1, 3, 5, 6: 5 of 7.
    assert metrics.accuracy(pred, true) == pytest.approx(5 / 7)
    assert isinstance(metrics.accuracy(pred, true), float)


# --- shared input checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: metrics.psnr(a, b, data_range=1.0),
        lambda a, b: metrics.ssim(a, b, data_range=1.0),
        lambda a, b: metrics.ssim_slices(a, b, data_range=1.0),
        metrics.max_abs_change,
        metrics.rms_change,
        metrics.dice,
        lambda a, b: metrics.dice_per_label(a, b, [1]),
        metrics.accuracy,
    ],
)
def test_shape_mismatch_names_both_shapes(call) -> None:
    a = np.zeros((12, 16, 16))
    b = np.zeros((12, 16, 17))
    with pytest.raises(ValueError, match=r"\(12, 16, 16\).*\(12, 16, 17\)"):
        call(a, b)


def test_results_are_python_floats(mni_uint8: np.ndarray) -> None:
    test = _perturb_uint8(mni_uint8, 2)
    values = [
        metrics.psnr(mni_uint8, test, data_range=255),
        metrics.ssim(mni_uint8, test, data_range=255),
        metrics.ssim_slices(mni_uint8, test, data_range=255),
        metrics.max_abs_change(mni_uint8, test),
        metrics.rms_change(mni_uint8, test),
        metrics.dice(mni_uint8 > 50, test > 50),
    ]
    assert all(type(v) is float for v in values)


@pytest.mark.parametrize(
    "where", [(slice(20, 30), slice(40, 60), slice(50, 70)), (0, 0, 0), (-1, -1, -1)]
)
def test_ssim_of_a_local_change_matches_skimage(mni_float: np.ndarray, where: tuple) -> None:
    # ssim computes only the box around the changes (plus one window); in the middle, at the
    # first and at the last voxel (where the reflected border is part of the box) it must equal
    # the whole-image SSIM.
    test = mni_float.copy()
    test[where] += np.random.default_rng(1).normal(0, 0.05, test[where].shape)
    expected = _skimage_ssim(mni_float, test, 1.0)
    assert metrics.ssim(mni_float, test, data_range=1.0) == pytest.approx(expected, abs=1e-12)
    assert expected < 1.0
