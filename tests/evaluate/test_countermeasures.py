"""Each countermeasure changes real images the way it claims to, and the victim applies it.

Data: four axial slices of the MNI152 T1 template at 2 mm (it ships in the nilearn wheel, no
download), cropped to 96x112 and scaled to [0, 1]. Perturbation-style tests add a +/-4/255 pattern
to ``0.05 + 0.9 * image`` so that clipping at 0 and 1 cannot hide or fake an effect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from monai.losses import DiceCELoss
from scipy import ndimage

import medue.evaluate.victim as victim
from medue.evaluate import SliceSet, VictimConfig, train_victim
from medue.evaluate.countermeasures import (
    COUNTERMEASURES,
    BatchHook,
    Countermeasure,
    Jpeg2000,
    LossFn,
    Pgd,
    get_countermeasure,
)
from medue.evaluate.countermeasures.codecs import closest_size, decode
from medue.metrics import psnr
from tests.conftest import torch_threads

EPS = 4.0 / 255.0
DATA_SIDE = [name for name, c in COUNTERMEASURES.items() if c.kind == "data"]
CODECS = ["jpeg", "jpeg_mr", "jpeg2000", "jpeg2000_mr"]
RATIO_TOLERANCE = 0.10  # measured: within 5% on these slices (JPEG quality steps are ~5%)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Others share this 2-core CPU: the tiny models here run ~10x slower on 2 busy threads."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def template() -> np.ndarray:
    """The MNI152 T1 volume (x, y, z) = (99, 117, 95), scaled to [0, 1]."""
    from nilearn import datasets

    volume = np.asarray(datasets.load_mni152_template(resolution=2).get_fdata(), np.float32)
    return (volume - volume.min()) / (volume.max() - volume.min())


@pytest.fixture(scope="module")
def slices(template: np.ndarray) -> np.ndarray:
    """Four axial slices through the brain, (4, 96, 112) float32 in [0, 1]."""
    return np.stack([template[1:97, 2:114, z] for z in (30, 40, 50, 60)]).astype(np.float32)


@pytest.fixture(scope="module")
def labels(slices: np.ndarray) -> np.ndarray:
    """Three intensity classes (background / darker / brighter tissue), int64."""
    return np.digitize(slices, [0.2, 0.6]).astype(np.int64)


def checkerboard(shape: tuple[int, ...]) -> np.ndarray:
    """+/-EPS alternating pixel by pixel: all its energy at the Nyquist frequency."""
    return ((np.indices(shape[-2:]).sum(0) % 2) * 2 - 1).astype(np.float32) * EPS


def lifted(images: np.ndarray) -> np.ndarray:
    """Away from 0 and 1 by 0.05, so +/-EPS patterns are never clipped."""
    return (0.05 + 0.9 * images).astype(np.float32)


def high_frequency_energy(images: np.ndarray) -> float:
    """Spectral energy above half the Nyquist frequency along either axis."""
    spectrum = np.abs(np.fft.fft2(images)) ** 2
    fy, fx = (np.abs(np.fft.fftfreq(n)) for n in images.shape[-2:])
    return float((spectrum * (np.maximum(fy[:, None], fx[None]) > 0.25)).sum())


# --- registry and interface -------------------------------------------------------------------


def test_registry_names_kinds_and_records() -> None:
    assert list(COUNTERMEASURES) == [
        "none",
        "gaussian",
        "median",
        "downup",
        "jpeg",
        "jpeg_mr",
        "jpeg2000",
        "jpeg2000_mr",
        "rewindow",
        "augment",
        "pgd",
    ]
    assert all(c.name == name for name, c in COUNTERMEASURES.items())
    assert {n for n, c in COUNTERMEASURES.items() if c.kind == "training"} == {"augment", "pgd"}
    assert get_countermeasure("jpeg2000_mr").as_dict() == {
        "kind": "data",
        "name": "jpeg2000_mr",
        "ratio": 24.0,
        "irreversible": True,
    }
    assert get_countermeasure("pgd").as_dict()["rho"] == pytest.approx(4 / 255)
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_countermeasure("gaussian").sigma = 2.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="known: none, gaussian, median"):
        get_countermeasure("blur")


@pytest.mark.parametrize("name", DATA_SIDE)
def test_data_side_contract(name: str, slices: np.ndarray) -> None:
    before = slices.copy()
    out = get_countermeasure(name).preprocess(slices)
    assert out.shape == slices.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, slices)
    np.testing.assert_array_equal(slices, before)  # the input is not modified
    assert get_countermeasure(name).batch_hook() is None


def test_none_and_training_side_leave_the_data_alone(slices: np.ndarray) -> None:
    assert get_countermeasure("none").preprocess(slices) is slices
    assert get_countermeasure("none").batch_hook() is None
    for name in ("augment", "pgd"):
        assert get_countermeasure(name).preprocess(slices) is slices
        assert callable(get_countermeasure(name).batch_hook())


def test_data_side_refuses_a_volume() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        get_countermeasure("median").preprocess(np.zeros((2, 3, 8, 8), np.float32))


# --- filters ----------------------------------------------------------------------------------


def test_gaussian_is_scipy_per_slice_and_low_pass(slices: np.ndarray) -> None:
    out = get_countermeasure("gaussian").preprocess(slices)
    for image, result in zip(slices, out, strict=True):
        np.testing.assert_allclose(result, ndimage.gaussian_filter(image, 1.0), atol=1e-6)
    assert high_frequency_energy(out) < 0.05 * high_frequency_energy(slices)  # measured 0.012
    # A Nyquist checkerboard is gone away from the borders (reflection breaks it at the edges).
    base = lifted(slices)
    residual = get_countermeasure("gaussian").preprocess(base + checkerboard(base.shape))
    residual -= get_countermeasure("gaussian").preprocess(base)
    assert np.abs(residual[:, 4:-4, 4:-4]).max() < 0.01 * EPS


def test_median_removes_sparse_impulses_and_keeps_the_image(slices: np.ndarray) -> None:
    median = get_countermeasure("median")
    rng = np.random.default_rng(0)
    impulses = (rng.random(slices.shape) < 0.05) * rng.choice([-EPS, EPS], slices.shape)
    impulses = impulses.astype(np.float32)
    flat = np.full(slices.shape, 0.5, np.float32)
    np.testing.assert_array_equal(median.preprocess(flat + impulses), flat)  # all of it, exactly
    base = lifted(slices)
    residual = median.preprocess(base + impulses) - median.preprocess(base)
    assert (residual**2).sum() < 0.4 * (impulses**2).sum()  # measured 0.28 (edges keep some)
    assert np.abs(median.preprocess(slices) - slices).mean() < 0.02  # measured 0.008


def test_median_passes_a_pixel_checkerboard(slices: np.ndarray) -> None:
    """A root signal of the 3x3 median: 5 of the 9 pixels in any window share the centre's sign.

    So a median attacker does not remove the highest-frequency +/-eps pattern; recorded here
    because it is the opposite of what one might expect from a 'denoiser'.
    """
    median = get_countermeasure("median")
    pattern = checkerboard(slices.shape)
    flat = np.full(slices.shape, 0.5, np.float32) + pattern
    inner = (slice(None), slice(1, -1), slice(1, -1))  # reflected borders break the pattern
    np.testing.assert_allclose(median.preprocess(flat)[inner], flat[inner], atol=1e-7)
    base = lifted(slices)
    residual = median.preprocess(base + pattern) - median.preprocess(base)
    assert (residual**2).sum() > 0.7 * len(slices) * (pattern**2).sum()  # measured 0.81


def test_downup_keeps_shape_and_removes_the_nyquist_frequency(slices: np.ndarray) -> None:
    downup = get_countermeasure("downup")
    assert downup.preprocess(slices[:, :95, :111]).shape == (4, 95, 111)
    base = lifted(slices)
    pattern = checkerboard(base.shape)
    out = downup.preprocess(base + pattern)
    # 2x2 area averaging cancels the checkerboard exactly: same result as without it.
    np.testing.assert_allclose(out, downup.preprocess(base), atol=1e-6)
    nyquist_in = np.abs(((base + pattern) * pattern).sum(axis=(1, 2)))
    nyquist_out = np.abs((out * pattern).sum(axis=(1, 2)))
    assert (nyquist_out < 1e-5 * nyquist_in).all()
    assert high_frequency_energy(downup.preprocess(slices)) < 0.1 * high_frequency_energy(slices)


def test_rewindow_stretches_the_percentile_window(slices: np.ndarray) -> None:
    out = get_countermeasure("rewindow").preprocess(slices)
    for image, result in zip(slices, out, strict=True):
        low, high = np.percentile(image, (1, 99))
        np.testing.assert_allclose(result, np.clip((image - low) / (high - low), 0, 1), atol=1e-6)
        assert result.min() == 0.0 and result.max() == 1.0
        assert 0.01 <= (result >= 1.0).mean() < 0.02  # the top 1% saturates (ties add a little)
    flat = np.full((1, 16, 16), 0.3, np.float32)
    np.testing.assert_array_equal(get_countermeasure("rewindow").preprocess(flat), flat)


# --- codecs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CODECS)
def test_codec_reaches_its_compression_ratio(name: str, slices: np.ndarray) -> None:
    codec = get_countermeasure(name)
    out = codec.preprocess(slices)
    for image, result in zip(slices, out, strict=True):
        data = codec.encode(image)
        achieved = image.size / len(data)  # raw = one byte per pixel
        assert achieved == pytest.approx(codec.ratio, rel=RATIO_TOLERANCE), len(data)
        np.testing.assert_array_equal(result, decode(data))
    np.testing.assert_allclose(out * 255.0, np.round(out * 255.0), atol=1e-3)  # 8-bit levels
    quality = psnr(slices, out, data_range=1.0)
    assert 22.0 < quality < 40.0, quality  # measured 24-29 dB; lossy but not destroyed


def test_closest_size_bisection() -> None:
    calls: list[int] = []

    def encode(quality: int) -> bytes:
        calls.append(quality)
        return b"x" * (10 * quality)

    assert len(closest_size(encode, 253.0, (1, 95))) == 250
    assert len(calls) <= 9
    assert len(closest_size(encode, 258.0, (1, 95))) == 260
    assert len(closest_size(encode, 3.0, (1, 95))) == 10  # unreachable: lowest quality
    assert len(closest_size(encode, 5000.0, (1, 95))) == 950  # above the best: highest


def test_jpeg2000_handles_a_slice_smaller_than_its_wavelet_levels() -> None:
    image = np.linspace(0, 1, 20 * 24, dtype=np.float32).reshape(1, 20, 24)
    assert Jpeg2000(ratio=4).preprocess(image).shape == (1, 20, 24)


# --- training-side ----------------------------------------------------------------------------


def augmented(labels: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch through a fresh augment hook; the image is the label drawn as label / 2."""
    hook = get_countermeasure("augment").batch_hook()
    images = torch.from_numpy(labels / 2.0).float()[:, None]
    generator = torch.Generator().manual_seed(seed)
    return hook(torch.nn.Identity(), None, images, torch.from_numpy(labels)[:, None], generator)


def test_augment_moves_image_and_label_together(labels: np.ndarray) -> None:
    """Image = label / 2; after augmentation each pixel's class is still readable from the image.

    Every intensity jitter is increasing, so the classes stay ordered: assign each pixel the class
    whose median augmented intensity is nearest and compare with the augmented label.
    """
    images, targets = augmented(labels, seed=0)
    assert images.shape == (4, 1, 96, 112) and images.dtype == torch.float32
    assert targets.dtype == torch.int64 and set(targets.unique().tolist()) <= {0, 1, 2}
    assert images.min() >= 0.0 and images.max() <= 1.0
    moved = 0
    for image, target, original in zip(images[:, 0], targets[:, 0], labels, strict=True):
        image, target = image.numpy(), target.numpy()
        centres = np.array([np.median(image[target == k]) for k in range(3)])
        read = np.abs(image[..., None] - centres).argmin(-1)
        assert (read == target).mean() > 0.95  # measured >= 0.966 (bilinear vs nearest edges)
        if (target != original).mean() > 0.05:
            moved += 1
            assert (read == original).mean() < (read == target).mean() - 0.03
    assert moved >= 2
    assert not torch.equal(images, torch.from_numpy(labels / 2.0).float()[:, None])


def test_augment_is_deterministic_for_a_seed(labels: np.ndarray) -> None:
    first, second, other = (augmented(labels, seed) for seed in (5, 5, 6))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_pgd_raises_the_loss_within_rho(slices: np.ndarray, labels: np.ndarray) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1)
    )
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    images, targets = torch.from_numpy(slices)[:, None], torch.from_numpy(labels)[:, None]
    pgd = get_countermeasure("pgd")
    adversarial, same = pgd.batch_hook()(model, loss_fn, images, targets, torch.Generator())
    assert same is targets
    assert (adversarial - images).abs().max() <= pgd.rho + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert all(p.grad is None for p in model.parameters())  # the attack leaves no gradients
    noise = (images + pgd.rho * torch.randn_like(images).sign()).clamp(0, 1)
    with torch.no_grad():
        clean, attacked, random = (loss_fn(model(x), targets) for x in (images, adversarial, noise))
    assert attacked > clean and attacked > random, (clean, attacked, random)


def test_pgd_refuses_a_useless_setting() -> None:
    with pytest.raises(ValueError, match="rho > 0"):
        Pgd(rho=0.0)


# --- in the victim ----------------------------------------------------------------------------


def tiny_sets(template: np.ndarray) -> tuple[SliceSet, SliceSet]:
    """Eight 64x64 training slices and four test slices from the middle of the brain."""
    images = np.stack([template[17:81, 26:90, z] for z in range(30, 66, 3)]).astype(np.float32)
    labels = np.digitize(images, [0.2, 0.6]).astype(np.int64)
    ids = [str(i) for i in range(len(images))]
    return SliceSet(images[:8], labels[:8], ids[:8]), SliceSet(images[8:], labels[8:], ids[8:])


SEEN: dict[str, list] = {"preprocess": [], "hook": [], "evaluate": []}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Spy(Countermeasure):
    """Records what the victim hands it; brightens the training data so a leak would show."""

    name: str = "spy"

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        SEEN["preprocess"].append(images.copy())
        return np.clip(images + 0.25, 0, 1)

    def batch_hook(self) -> BatchHook:
        def hook(
            model: torch.nn.Module,
            loss_fn: LossFn,
            images: torch.Tensor,
            labels: torch.Tensor,
            generator: torch.Generator,
        ) -> tuple[torch.Tensor, torch.Tensor]:
            SEEN["hook"].append(images.clone())
            return images, labels

        return hook


def test_victim_applies_a_countermeasure_to_training_only(
    template: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = tiny_sets(template)
    clean_train, clean_test = train.images.copy(), test.images.copy()
    for values in SEEN.values():
        values.clear()
    monkeypatch.setitem(COUNTERMEASURES, "spy", Spy())
    original_evaluate = victim.evaluate

    def spying_evaluate(model: torch.nn.Module, data: SliceSet, num_classes: int) -> float:
        SEEN["evaluate"].append(data.images.copy())
        return original_evaluate(model, data, num_classes)

    monkeypatch.setattr(victim, "evaluate", spying_evaluate)
    config = VictimConfig(epochs=1, num_classes=3, batch_size=4, countermeasure="spy")
    result = train_victim(train, test, config)
    assert result.countermeasure == {"kind": "none", "name": "spy"}
    assert len(SEEN["preprocess"]) == 1
    np.testing.assert_array_equal(SEEN["preprocess"][0], clean_train)
    batches = torch.cat(SEEN["hook"])[:, 0].numpy()  # shuffled: compare as sorted sets of values
    assert len(SEEN["hook"]) == 2 and batches.shape == clean_train.shape
    expected = np.clip(clean_train + 0.25, 0, 1)
    np.testing.assert_allclose(np.sort(batches.ravel()), np.sort(expected.ravel()))
    np.testing.assert_array_equal(SEEN["evaluate"][0], clean_test)
    np.testing.assert_array_equal(train.images, clean_train)
    np.testing.assert_array_equal(test.images, clean_test)


def test_victim_trains_behind_pgd(template: np.ndarray) -> None:
    train, test = tiny_sets(template)
    clean_test = test.images.copy()
    config = VictimConfig(epochs=1, num_classes=3, batch_size=4, countermeasure="pgd")
    result = train_victim(train, test, config)
    assert result.countermeasure == get_countermeasure("pgd").as_dict()
    assert len(result.dsc_per_epoch) == 1 and 0.0 <= result.final_dsc <= 1.0
    np.testing.assert_array_equal(test.images, clean_test)
    with pytest.raises(ValueError, match="unknown countermeasure"):
        train_victim(train, test, VictimConfig(epochs=1, num_classes=3, countermeasure="blur"))
