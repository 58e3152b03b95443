"""Do kornia's filters and JPEG compute what the attacker's tools compute?

``medue.robust.transforms`` calls kornia wherever kornia computes the attacker's operation, and
these tests are the evidence, measured against the tools themselves (scipy.ndimage, a real
Pillow/libjpeg JPEG). Kornia's kernels and window medians are scipy's, but its border modes are
torch's: its 'reflect' mirrors about the edge pixel (``d c b | a b c d``), scipy's 'reflect'
repeats it (``d c b a | a b c d``). So the transforms pad symmetrically themselves and keep only
the pixels kornia computed from that padding; the border tests show why. Kornia's differentiable
JPEG is a colour codec with another quality-to-table mapping, so ``jpeg_approx`` stays our own;
the JPEG tests record by how much kornia differs.

Tolerance: kornia filters in float32, scipy in float64. Measured <= 2.5e-7 on U(0, 1) noise
(about 2 float32 ulps at 1.0), so 1e-6 allows rounding and nothing else: a wrong tap or border
pixel moves a value by 1e-2 or more on this noise.
"""

from __future__ import annotations

from collections.abc import Callable

import kornia
import numpy as np
import pytest
import torch
from scipy import ndimage

from medue.robust import transforms as T
from tests.robust.test_transforms import pillow_jpeg, smooth_image

FLOAT_TOLERANCE = 1e-6  # float32 vs float64 accumulation, measured <= 2.5e-7 (see the docstring)
BORDER_DIFFERENCE = 1e-2  # torch-'reflect' vs scipy-'reflect' at the border: measured 0.014-0.63


@pytest.fixture
def image() -> np.ndarray:
    """A 37x45 slice of U(0, 1) noise, neither square nor a multiple of 8 or 16."""
    return np.random.default_rng(0).random((37, 45)).astype(np.float32)


def batch(image: np.ndarray) -> torch.Tensor:
    """(H, W) to a (1, 1, H, W) tensor."""
    return torch.from_numpy(image[None, None].copy())


def padded_then_cropped(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, radius: int
) -> torch.Tensor:
    """Kornia's filter on a scipy-'reflect' padded image, cropped back to ``x``'s pixels."""
    height, width = x.shape[-2:]
    out = fn(T.symmetric_pad(x, radius, radius, radius, radius))
    return out[..., radius : radius + height, radius : radius + width]


def radius_of(sigma: float) -> int:
    """scipy.ndimage.gaussian_filter's kernel radius at its default truncate of 4 sigma."""
    return int(4.0 * sigma + 0.5)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 4.0])
def test_kornia_gaussian_kernel_is_scipys(sigma: float) -> None:
    radius = radius_of(sigma)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    scipy_kernel = ndimage.gaussian_filter1d(impulse, sigma, mode="constant")
    kernel = kornia.filters.get_gaussian_kernel1d(2 * radius + 1, sigma, dtype=torch.float64)
    np.testing.assert_allclose(kernel[0].numpy(), scipy_kernel, atol=1e-15, rtol=0)  # measured 0


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 4.0])
def test_kornia_gaussian_blur_is_scipys_inside_and_differs_at_the_border(
    image: np.ndarray, sigma: float
) -> None:
    radius = radius_of(sigma)
    size = 2 * radius + 1
    expected = ndimage.gaussian_filter(image.astype(np.float64), sigma)
    own_border = kornia.filters.gaussian_blur2d(batch(image), size, (sigma, sigma))[0, 0].numpy()
    inner = (slice(radius, -radius), slice(radius, -radius))
    np.testing.assert_allclose(own_border[inner], expected[inner], atol=FLOAT_TOLERANCE, rtol=0)
    assert np.abs(own_border - expected).max() > BORDER_DIFFERENCE  # measured 0.014 to 0.16

    def blur(x: torch.Tensor) -> torch.Tensor:
        return kornia.filters.gaussian_blur2d(x, size, (sigma, sigma))

    out = padded_then_cropped(blur, batch(image), radius)[0, 0].numpy()
    np.testing.assert_allclose(out, expected, atol=FLOAT_TOLERANCE, rtol=0)  # measured 2.5e-7


def test_a_blur_wider_than_the_image_is_scipys_on_a_small_image() -> None:
    """The elastic sampler blurs with sigma 4 (radius 16) on images smaller than its kernel:
    kornia's own reflect border refused that before 0.9.2 ("padding size"); our symmetric pad
    matches scipy whatever kornia's version does."""
    small = np.random.default_rng(1).random((12, 10)).astype(np.float32)
    out = T.gaussian_blur(batch(small), 4.0)[0, 0].numpy()
    expected = ndimage.gaussian_filter(small.astype(np.float64), 4.0)
    np.testing.assert_allclose(out, expected, atol=FLOAT_TOLERANCE, rtol=0)


@pytest.mark.parametrize("size", [3, 5])
def test_kornia_box_blur_is_scipys_uniform_filter_with_a_symmetric_pad(
    image: np.ndarray, size: int
) -> None:
    radius = size // 2
    expected = ndimage.uniform_filter(image.astype(np.float64), size, mode="reflect")
    own_border = kornia.filters.box_blur(batch(image), size)[0, 0].numpy()
    inner = (slice(radius, -radius), slice(radius, -radius))
    np.testing.assert_allclose(own_border[inner], expected[inner], atol=FLOAT_TOLERANCE, rtol=0)
    assert np.abs(own_border - expected).max() > BORDER_DIFFERENCE  # measured 0.12 and 0.26

    def blur(x: torch.Tensor) -> torch.Tensor:
        return kornia.filters.box_blur(x, size)

    out = padded_then_cropped(blur, batch(image), radius)[0, 0].numpy()
    np.testing.assert_allclose(out, expected, atol=FLOAT_TOLERANCE, rtol=0)  # measured 1.2e-7


@pytest.mark.parametrize("size", [3, 5])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_kornia_median_blur_is_scipys_median_filter_with_a_symmetric_pad(
    image: np.ndarray, size: int, requires_grad: bool
) -> None:
    """Kornia takes a sorting network without autograd and ``torch.median`` with it: both exact."""
    radius = size // 2
    expected = ndimage.median_filter(image, size=size)
    own_border = kornia.filters.median_blur(batch(image), size)[0, 0].numpy()
    inner = (slice(radius, -radius), slice(radius, -radius))
    np.testing.assert_array_equal(own_border[inner], expected[inner])
    assert np.abs(own_border - expected).max() > BORDER_DIFFERENCE  # measured 0.34 and 0.63

    def median(x: torch.Tensor) -> torch.Tensor:
        return kornia.filters.median_blur(x, size)

    x = batch(image).requires_grad_(requires_grad)
    out = padded_then_cropped(median, x, radius)
    np.testing.assert_array_equal(out[0, 0].detach().numpy(), expected)  # a median picks a value
    if requires_grad:
        out.sum().backward()
        assert x.grad.sum().item() == pytest.approx(image.size)  # one unit per output pixel


# --- JPEG: kornia's codec is kept out, and these numbers are why -----------------------------


def kornia_grey_jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Kornia's codec on a grey slice: as RGB with three equal channels, luma read back."""
    rgb = kornia.enhance.jpeg_codec_differentiable(
        x.expand(-1, 3, -1, -1), torch.tensor([float(quality)])
    )
    return kornia.color.rgb_to_grayscale(rgb)


@pytest.mark.parametrize(
    ("shape", "quality", "kornia_error", "our_error"),
    # measured mean |codec - Pillow| in grey levels over the sampler's qualities (30 to 90). They
    # are within 0.07 except at quality 75, where kornia's cubic "floor" in the quality scaling
    # moves table entries by up to 0.96 of a step from libjpeg's integer ones.
    [
        ((64, 64), 30, 0.914, 0.879),
        ((61, 75), 50, 0.753, 0.759),
        ((64, 64), 75, 1.092, 0.641),
        ((37, 45), 90, 0.556, 0.488),
    ],
)
def test_kornia_jpeg_is_no_closer_to_libjpeg_than_jpeg_approx(
    shape: tuple[int, int], quality: int, kornia_error: float, our_error: float
) -> None:
    """The two differentiable JPEGs against a real one; kornia is also ~13x slower here.

    Kornia's codec is RGB with 4:2:0 chroma, so a grey slice goes in as three equal channels
    and its luma is read back (kornia's Cb, Cr of grey are 127.5, not 128: the channels differ
    by up to 1.2 grey levels, the luma does not). Timed forward + backward on (32, 1, 128, 128),
    one thread: kornia 463 ms, ``jpeg_approx`` 34 ms.
    """
    pixels = smooth_image(shape, 1.0, seed=3)
    x = batch(pixels.astype(np.float32) / 255)
    real = pillow_jpeg(pixels, quality)
    theirs = np.abs(kornia_grey_jpeg(x, quality)[0, 0].numpy() * 255 - real).mean()
    ours = np.abs(T.jpeg_approx(x, quality)[0, 0].numpy() * 255 - real).mean()
    assert theirs == pytest.approx(kornia_error, abs=0.01)
    assert ours == pytest.approx(our_error, abs=0.01)
    assert ours < theirs + 0.01
