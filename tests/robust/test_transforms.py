"""Each differentiable countermeasure computes what the attacker's own tool does, with a gradient.

References are the tools themselves: scipy.ndimage filters, the ``DownUp`` countermeasure, numpy,
torch.rot90 and a real Pillow (libjpeg) JPEG. Slices are 37x45 or 61x75, not square and not whole
JPEG blocks, so border handling is exercised. Tolerances record the measured error behind them.
The blur and median filters are kornia's over scipy's borders; whether kornia alone computes the
same is measured in test_library_equivalence.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from medue.evaluate.countermeasures import DownUp
from medue.robust import transforms as T

FLOAT_TOLERANCE = 1e-5  # kornia's float32 filters vs scipy's float64: measured <= 2.4e-7


@pytest.fixture
def image() -> np.ndarray:
    """A 37x45 slice of U(0, 1) noise: every border and every filter tap matters."""
    return np.random.default_rng(0).random((37, 45)).astype(np.float32)


def batch(image: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """(H, W) to a (1, 1, H, W) tensor."""
    return torch.tensor(image[None, None], requires_grad=requires_grad)


def check_gradient(fn: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray) -> torch.Tensor:
    """The input gradient of ``fn(x).sum()``, asserted finite and not all zero."""
    x = batch(image, requires_grad=True)
    fn(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    return x.grad


def smooth_image(shape: tuple[int, int], sigma: float, seed: int) -> np.ndarray:
    """Gaussian-filtered noise stretched to 0..255 (uint8): image-like, not white noise."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return np.round((noise - noise.min()) / (noise.max() - noise.min()) * 255).astype(np.uint8)


def pillow_jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    """A real grey-level JPEG round trip (libjpeg via Pillow), 0..255 float32."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, "JPEG", quality=quality, subsampling=0)
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return np.asarray(decoded.convert("L"), dtype=np.float32)


ALL = {
    "gaussian_blur": lambda x: T.gaussian_blur(x, 1.0),
    "mean_blur": T.mean_blur,
    "median_blur": T.median_blur,
    "down_up": lambda x: T.down_up(x, 0.6),
    "rescale_gamma": lambda x: T.rescale_gamma(x, 1.1, -0.05, 0.8),
    "quantise": T.quantise,
    "flip_rotate": lambda x: T.flip_rotate(x, True, False, 7.0),
    "elastic": lambda x: T.elastic(x, torch.full((x.shape[0], 2, *x.shape[-2:]), 0.3)),
    "jpeg_approx": lambda x: T.jpeg_approx(x, 50),
}


@pytest.mark.parametrize("name", ALL)
def test_volumes_are_transformed_slice_by_slice(name: str) -> None:
    fn = ALL[name]
    volume = torch.rand((2, 1, 3, 20, 27), generator=torch.Generator().manual_seed(1))
    out = fn(volume)
    assert out.shape == volume.shape and out.dtype == torch.float32
    for z in range(3):
        torch.testing.assert_close(out[:, :, z], fn(volume[:, :, z]), atol=1e-6, rtol=0)


def test_symmetric_pad_is_scipy_reflect_even_wider_than_the_image() -> None:
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    padded = T.symmetric_pad(x, 2, 7, 9, 1)
    expected = np.pad(x[0, 0].numpy(), ((2, 7), (9, 1)), mode="symmetric")
    np.testing.assert_array_equal(padded[0, 0].numpy(), expected)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 1.0, 1.5, 4.0])  # 0.1: a 1-tap kernel
def test_gaussian_blur_matches_scipy(image: np.ndarray, sigma: float) -> None:
    out = T.gaussian_blur(batch(image), sigma)[0, 0].numpy()
    expected = ndimage.gaussian_filter(image, sigma)
    np.testing.assert_allclose(out, expected, atol=FLOAT_TOLERANCE, rtol=0)
    check_gradient(lambda x: T.gaussian_blur(x, sigma), image)


def test_mean_blur_matches_scipy(image: np.ndarray) -> None:
    out = T.mean_blur(batch(image), 3)[0, 0].numpy()
    expected = ndimage.uniform_filter(image, 3, mode="reflect")
    np.testing.assert_allclose(out, expected, atol=FLOAT_TOLERANCE, rtol=0)
    check_gradient(T.mean_blur, image)


@pytest.mark.parametrize("size", [3, 5])
def test_median_blur_matches_scipy_and_routes_the_gradient_to_the_selected_pixel(
    image: np.ndarray, size: int
) -> None:
    out = T.median_blur(batch(image), size)[0, 0].numpy()
    # measured: exactly equal (the median selects one of the same float32 values)
    np.testing.assert_allclose(out, ndimage.median_filter(image, size=size), atol=1e-6, rtol=0)
    gradient = check_gradient(lambda x: T.median_blur(x, size), image)
    assert gradient.sum().item() == pytest.approx(image.size)  # one unit per output pixel


def test_even_windows_are_refused(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="odd"):
        T.median_blur(batch(image), 4)
    with pytest.raises(ValueError, match="odd"):
        T.mean_blur(batch(image), 2)


@pytest.mark.parametrize("factor", [0.4, 0.5, 0.7])
def test_down_up_is_the_downup_countermeasure(image: np.ndarray, factor: float) -> None:
    out = T.down_up(batch(image), factor)[0, 0].numpy()
    expected = DownUp(factor=factor).apply_slice(image)
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)  # measured: exactly equal
    check_gradient(lambda x: T.down_up(x, factor), image)


@pytest.mark.parametrize("gamma", [0.8, 1.0, 1.25])
def test_rescale_gamma_matches_numpy_with_a_finite_gradient_at_zero(
    image: np.ndarray, gamma: float
) -> None:
    out = T.rescale_gamma(batch(image), 1.1, -0.05, gamma)[0, 0].numpy()
    expected = np.clip(image * 1.1 - 0.05, 0, 1) ** gamma
    assert (expected == 0).any() and (expected == 1).any()  # both clamps are exercised
    # measured 6e-8 (float32 pow); the bound is the linear piece's below 1e-6: 1e-6 ** 0.8
    np.testing.assert_allclose(out, expected, atol=2e-5, rtol=0)
    check_gradient(lambda x: T.rescale_gamma(x, 1.1, -0.05, gamma), image)


def test_quantise_rounds_exactly_with_an_identity_gradient(image: np.ndarray) -> None:
    out = T.quantise(batch(image), 255)[0, 0].numpy()
    np.testing.assert_array_equal(out, np.round(image * 255) / 255)
    gradient = check_gradient(T.quantise, image)
    np.testing.assert_array_equal(gradient.numpy(), np.ones_like(gradient.numpy()))


def test_flip_rotate_without_rotation_is_identity_or_exact_flips(image: np.ndarray) -> None:
    x = batch(image)
    torch.testing.assert_close(T.flip_rotate(x, False, False, 0.0), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(T.flip_rotate(x, True, True, 0.0), torch.flip(x, (-2, -1)))


@pytest.mark.parametrize(("angle", "quarter_turns"), [(90.0, 1), (-90.0, -1)])
def test_quarter_turns_are_rot90(angle: float, quarter_turns: int) -> None:
    x = torch.rand((1, 1, 32, 32), generator=torch.Generator().manual_seed(2))
    out = T.flip_rotate(x, False, False, angle)
    expected = torch.rot90(x, quarter_turns, dims=(-2, -1))
    # align_corners=False: a quarter turn maps pixel centres onto pixel centres (measured: 0)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-4, rtol=0)


def test_half_turn_of_a_non_square_slice_is_both_flips(image: np.ndarray) -> None:
    """A wrong aspect-ratio correction would shear here; measured error 1.8e-6."""
    x = batch(image)
    out = T.flip_rotate(x, False, False, 180.0)
    torch.testing.assert_close(out, torch.flip(x, (-2, -1)), atol=1e-4, rtol=0)
    check_gradient(lambda x: T.flip_rotate(x, False, True, 7.0), image)


def test_elastic_zero_is_identity_and_whole_pixels_shift(image: np.ndarray) -> None:
    x = batch(image)
    height, width = image.shape
    zero = torch.zeros((1, 2, height, width))
    torch.testing.assert_close(T.elastic(x, zero), x, atol=1e-6, rtol=0)  # measured: 0
    shift = zero.clone()
    shift[:, 0], shift[:, 1] = 1.0, -2.0  # read one pixel right, two up
    out = T.elastic(x, shift)
    torch.testing.assert_close(out[..., 2:, :-1], x[..., :-2, 1:], atol=1e-6, rtol=0)
    check_gradient(lambda x: T.elastic(x, zero + 0.3), image)


def test_elastic_refuses_a_displacement_of_the_wrong_shape(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="displacement"):
        T.elastic(batch(image), torch.zeros((1, 2, 8, 8)))


def test_jpeg_quant_table_is_libjpegs() -> None:
    torch.testing.assert_close(T.jpeg_quant_table(50), torch.from_numpy(T.JPEG_LUMINANCE).float())
    assert T.jpeg_quant_table(75)[0].tolist() == [8, 6, 5, 8, 12, 20, 26, 31]
    assert T.jpeg_quant_table(1).max().item() == 255  # baseline tables stop at 8 bits
    assert T.jpeg_quant_table(100).max().item() == 1


def test_jpeg_approx_at_quality_100_is_nearly_lossless(image: np.ndarray) -> None:
    x = batch(image)
    error = (T.jpeg_approx(x, 100) - x).abs().max().item()
    assert error < 1.5 / 255  # measured 0.73 / 255: every step 1, cubic residual <= 1/8


@pytest.mark.parametrize(
    ("shape", "quality", "bound"),
    # measured mean |approx - Pillow| in grey levels on these images: 0.76, 0.88, 0.64. A true
    # rounding instead of the cubic gives 0.33, 0.25, 0.41; the rest is libjpeg's integer DCT,
    # its rounding of the decoded levels to integers and rare coefficients at a .5 boundary.
    [((61, 75), 50, 2.0), ((64, 64), 30, 2.0), ((64, 64), 75, 1.5)],
)
def test_jpeg_approx_is_close_to_a_real_jpeg(
    shape: tuple[int, int], quality: int, bound: float
) -> None:
    pixels = smooth_image(shape, sigma=1.0, seed=3)
    x = batch(pixels.astype(np.float32) / 255)
    out = T.jpeg_approx(x, quality)[0, 0].numpy() * 255
    assert np.abs(out - pillow_jpeg(pixels, quality)).mean() < bound
    check_gradient(lambda x: T.jpeg_approx(x, quality), pixels.astype(np.float32) / 255)


def test_jpeg_approx_removes_what_jpeg_removes() -> None:
    """A +/-4/255 checkerboard (a perturbation's typical frequency) is mostly gone, as in JPEG."""
    pixels = smooth_image((64, 64), sigma=2.0, seed=4)
    checker = np.indices(pixels.shape).sum(axis=0) % 2 * 8 - 4
    perturbed = np.clip(pixels.astype(int) + checker, 0, 255).astype(np.uint8)
    clean = T.jpeg_approx(batch(pixels.astype(np.float32) / 255), 50)
    dirty = T.jpeg_approx(batch(perturbed.astype(np.float32) / 255), 50)
    left = ((dirty - clean).abs().mean() * 255).item()
    real = np.abs(pillow_jpeg(perturbed, 50) - pillow_jpeg(pixels, 50)).mean()
    assert left < 1.0 and real < 1.0  # of the 4 grey levels added; measured 0.48 and 0.36
