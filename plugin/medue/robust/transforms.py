"""Differentiable versions of the attacker's cheap data-side countermeasures.

A protective perturbation optimised for exact pixel values can be undone by a blur or a re-save.
Training it through these transforms ("expectation over transformation") makes it survive them,
and that needs gradients: each function is the same operation as its numpy counterpart in
``medue.evaluate.countermeasures`` (same kernels, same borders), in torch, with a smooth or
straight-through stand-in only where the real step is piecewise constant (rounding). The blur and
median filters are kornia's, over scipy's borders; JPEG stays our own (see ``jpeg_approx``).

Every function takes float32 images (N, 1, H, W), or volumes (N, 1, D, H, W) treated as D axial
slices (the last two dims, as the 2D victim sees them), and returns the same shape and dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import kornia
import numpy as np
import torch
import torch.nn.functional as F

TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default: the kernel reaches 4 sigma
GAMMA_EPS = 1e-6  # below this rescale_gamma is linear, so its gradient at 0 stays finite
BLOCK = 8  # JPEG's DCT block size
# ITU-T T.81 Annex K, table K.1: the luminance quantisation table libjpeg scales by quality.
JPEG_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mirrors ``Gaussian``: ``scipy.ndimage.gaussian_filter(slice, sigma)``.

    ``kornia.filters.gaussian_blur2d`` with scipy's kernel (normalised samples out to
    ``int(4 * sigma + 0.5)`` pixels; kornia's is the same, measured equal) over scipy's 'reflect'
    borders, which kornia lacks (see ``_with_symmetric_border``). Linear, so differentiable.
    """
    radius = int(TRUNCATE * sigma + 0.5)

    def blur(padded: torch.Tensor) -> torch.Tensor:
        return kornia.filters.gaussian_blur2d(padded, 2 * radius + 1, (sigma, sigma))

    return _with_symmetric_border(blur, x, radius)


def mean_blur(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """A ``size`` x ``size`` box filter (``scipy.ndimage.uniform_filter``, 'reflect' borders).

    The simplest denoiser an attacker has: ``kornia.filters.box_blur`` over scipy's borders.
    Linear, so differentiable as it is.
    """
    _check_odd(size)
    return _with_symmetric_border(lambda p: kornia.filters.box_blur(p, size), x, size // 2)


def median_blur(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Mirrors ``Median``: ``scipy.ndimage.median_filter(slice, size)``, 'reflect' borders.

    ``kornia.filters.median_blur`` over scipy's borders; the forward pass is the exact median.
    With autograd kornia takes ``torch.median`` over each window: all of the gradient goes to
    the window pixel that was selected, which is the true derivative of a median wherever the
    window has no ties (at ties one of the tied pixels gets it).
    """
    _check_odd(size)
    return _with_symmetric_border(lambda p: kornia.filters.median_blur(p, size), x, size // 2)


def down_up(x: torch.Tensor, factor: float = 0.5) -> torch.Tensor:
    """Mirrors ``DownUp``: area down-sampling to ``round(h * factor)``, bilinear back up.

    The same ``F.interpolate`` calls (``align_corners=False``), so the same numbers; both steps
    are linear, so differentiable as they are.
    """
    slices = _as_slices(x)
    height, width = slices.shape[-2:]
    small = (max(1, round(height * factor)), max(1, round(width * factor)))
    down = F.interpolate(slices, size=small, mode="area")
    up = F.interpolate(down, size=(height, width), mode="bilinear", align_corners=False)
    return up.reshape(x.shape)


def rescale_gamma(x: torch.Tensor, scale: float, offset: float, gamma: float) -> torch.Tensor:
    """A crude re-windowing: ``clamp(x * scale + offset, 0, 1) ** gamma``.

    Stands in for ``Rewindow`` and intensity jitter: the perturbation budget was set in the
    protector's intensity scale, the attacker's scale differs. ``y ** gamma`` has an infinite
    slope at 0 for gamma < 1, so below ``GAMMA_EPS`` the curve continues linearly to 0 (the
    value moves by at most ``GAMMA_EPS ** gamma``, about 2e-5 at gamma 0.8).
    """
    y = torch.clamp(x * scale + offset, 0.0, 1.0)
    above = y > GAMMA_EPS
    power = torch.where(above, y, torch.ones_like(y)) ** gamma  # no 0 ** (gamma - 1) in backward
    return torch.where(above, power, y * GAMMA_EPS ** (gamma - 1.0))


def quantise(x: torch.Tensor, levels: int = 255) -> torch.Tensor:
    """Rounding to multiples of ``1 / levels``, as any 8-bit export (PNG, DICOM) does.

    Straight-through: the forward value is the exact rounding (half to even, as ``np.round``),
    the gradient is the identity, because the true one (zero almost everywhere) teaches nothing.
    """
    rounded = torch.round(x * levels) / levels
    return rounded.detach() + (x - x.detach())  # x - x.detach() is exactly 0: forward exact


def flip_rotate(x: torch.Tensor, flip_h: bool, flip_v: bool, angle_degrees: float) -> torch.Tensor:
    """Flips (``flip_h`` mirrors left-right, ``flip_v`` top-bottom), then a rotation.

    The rotation is about the slice centre in pixel units (the aspect ratio is accounted for),
    counter-clockwise as displayed with row 0 at the top, so +90 degrees on a square slice is
    ``torch.rot90(x, 1, dims=(-2, -1))``. It resamples with ``grid_sample`` (bilinear, 'border'
    padding, ``align_corners=False``): pixels are squares tiling [-1, 1], so a quarter turn of a
    square slice maps pixel centres onto pixel centres. Bilinear weights are linear in the image,
    so it is differentiable. Angle 0 skips the resampling: it is then exactly a flip.
    """
    dims = [d for d, flip in ((-1, flip_h), (-2, flip_v)) if flip]
    if dims:
        x = torch.flip(x, dims)
    if angle_degrees == 0:
        return x
    slices = _as_slices(x)
    height, width = slices.shape[-2:]
    angle = math.radians(angle_degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # Output point p reads the input at [[cos, -sin], [sin, cos]] @ p in pixels (x right, y down),
    # the inverse of the turn; grid_sample's normalised (u, v) are x / (W/2) and y / (H/2).
    aspect = height / width
    theta = torch.tensor([[cos, -sin * aspect, 0.0], [sin / aspect, cos, 0.0]]).to(slices)
    grid = F.affine_grid(theta.expand(len(slices), 2, 3), list(slices.shape), align_corners=False)
    out = F.grid_sample(slices, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(x.shape)


def elastic(x: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Elastic deformation: output pixel p is the input read at ``p + displacement[:, :, p]``.

    ``displacement`` is (N, 2, H, W) in pixels, channel 0 along W (x), channel 1 along H (y),
    shared by every slice of a volume. Mirrors the elastic part of the attacker's augmentation;
    bilinear resampling ('border' padding), linear in the image, so differentiable.
    """
    slices = _as_slices(x)
    height, width = slices.shape[-2:]
    if displacement.shape != (x.shape[0], 2, height, width):
        raise ValueError(f"displacement {tuple(displacement.shape)} does not fit {tuple(x.shape)}")
    per_image = len(slices) // x.shape[0]
    wide = slices.double()  # pixel -> normalised -> pixel in float32 is off by ~2e-6 of a pixel
    displacement = displacement.to(wide).repeat_interleave(per_image, dim=0)
    rows = torch.arange(height).to(wide)[:, None] + displacement[:, 1]
    cols = torch.arange(width).to(wide)[None, :] + displacement[:, 0]
    # align_corners=False: pixel centre i sits at (2 i + 1) / size - 1
    grid = torch.stack(((2 * cols + 1) / width - 1, (2 * rows + 1) / height - 1), dim=-1)
    out = F.grid_sample(wide, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.to(x.dtype).reshape(x.shape)


def jpeg_approx(x: torch.Tensor, quality: int = 50) -> torch.Tensor:
    """Mirrors ``Jpeg`` (a grey-level JPEG re-save) with Shin & Song's (2017) differentiable JPEG.

    Baseline JPEG on levels ``x * 255 - 128``: orthonormal 8x8 block DCT-II (the JPEG FDCT),
    division by libjpeg's luminance table for ``quality``, rounding, multiplication back, inverse
    DCT, clipping to [0, 1] as the decoder clips to 0..255. Rounding is replaced by
    ``r + (z - r) ** 3`` with ``r = round(z)`` detached, which is near the true rounding and has a
    gradient (``3 (z - r) ** 2``). Slices are padded to whole blocks by repeating the edge
    pixels, as libjpeg does, and cropped back: a symmetric pad puts different content in the
    partial edge blocks and was measured 5 to 20 times further from Pillow there.

    Not ``kornia.enhance.jpeg_codec_differentiable`` (Reich et al. 2024, the same rounding): it
    codes RGB with 4:2:0 chroma (13 times slower here on a grey batch) and smooths its quality
    scaling, so its tables miss libjpeg's by up to 0.96 of a step; mean error against Pillow at
    quality 75 is 1.09 grey levels to our 0.64 (tests/robust/test_library_equivalence.py).
    """
    slices = _as_slices(x)
    height, width = slices.shape[-2:]
    pad_h, pad_w = -height % BLOCK, -width % BLOCK
    levels = F.pad(slices * 255.0 - 128.0, (0, pad_w, 0, pad_h), mode="replicate")
    blocks = _to_blocks(levels)
    dct = _dct_matrix().to(slices)
    table = jpeg_quant_table(quality).to(slices)
    z = dct @ blocks @ dct.T / table
    r = torch.round(z).detach()
    coefficients = (r + (z - r) ** 3) * table
    decoded = _from_blocks(dct.T @ coefficients @ dct, levels.shape)
    decoded = decoded[..., :height, :width]
    return torch.clamp((decoded + 128.0) / 255.0, 0.0, 1.0).reshape(x.shape)


def jpeg_quant_table(quality: int) -> torch.Tensor:
    """libjpeg's luminance table for ``quality`` (``jpeg_set_quality``, baseline: at most 255)."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = np.clip((JPEG_LUMINANCE * scale + 50) // 100, 1, 255)
    return torch.from_numpy(table.astype(np.float32))


def symmetric_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Pad the last two dims as scipy.ndimage's 'reflect' mode: ``d c b a | a b c d | d c b a``.

    This repeats the edge sample, unlike torch's 'reflect' (``d c b | a b c d``). Torch has no
    such mode, so it is an index gather (differentiable), valid for pads wider than the image.
    """
    height, width = x.shape[-2:]
    rows = _symmetric_index(height, top, bottom, x.device)
    cols = _symmetric_index(width, left, right, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _symmetric_index(size: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """Source indices of a symmetric extension: it has period ``2 size``, mirrored halves."""
    index = torch.remainder(torch.arange(-before, size + after, device=device), 2 * size)
    return torch.where(index >= size, 2 * size - 1 - index, index)


def _as_slices(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) or (N, C, D, H, W) as a batch of (B, 1, H, W) slices (a view, no copy)."""
    if x.ndim not in (4, 5):
        raise ValueError(f"expected (N, 1, H, W) or (N, 1, D, H, W), got shape {tuple(x.shape)}")
    return x.reshape(-1, 1, *x.shape[-2:])


def _check_odd(size: int) -> None:
    """Even windows have no centre pixel, and scipy shifts them; refuse rather than guess."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be odd and positive, got {size}")


def _with_symmetric_border(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, radius: int
) -> torch.Tensor:
    """``fn`` (a kornia filter reaching ``radius`` pixels) per slice, with scipy's borders.

    Kornia's border modes are torch's, whose 'reflect' skips the edge pixel (``d c b | a b c d``)
    and, before kornia 0.9.2, could not pad wider than the image; scipy's 'reflect' repeats it.
    So the slices are padded by ``symmetric_pad`` first and only the pixels kornia computed from
    that padding are kept.
    Measured against scipy in tests/robust/test_library_equivalence.py.
    """
    slices = _as_slices(x)
    height, width = slices.shape[-2:]
    out = fn(symmetric_pad(slices, radius, radius, radius, radius))
    return out[..., radius : radius + height, radius : radius + width].reshape(x.shape)


def _dct_matrix() -> torch.Tensor:
    """The orthonormal 8-point DCT-II, ``D[k, n] = a_k cos(pi (2 n + 1) k / 16)``.

    Applied as ``D @ block @ D.T`` it is exactly JPEG's FDCT (``C(u) C(v) / 4`` normalisation).
    """
    k = torch.arange(BLOCK, dtype=torch.float64)[:, None]
    n = torch.arange(BLOCK, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * (2 * n + 1) * k / (2 * BLOCK)) * math.sqrt(2.0 / BLOCK)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def _to_blocks(image: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) with H, W multiples of 8 to (B, H/8, W/8, 8, 8) blocks."""
    batch, _, height, width = image.shape
    blocks = image.reshape(batch, height // BLOCK, BLOCK, width // BLOCK, BLOCK)
    return blocks.permute(0, 1, 3, 2, 4)


def _from_blocks(blocks: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The inverse of ``_to_blocks``."""
    return blocks.permute(0, 1, 3, 2, 4).reshape(shape)
