"""Lossy re-compression countermeasures: JPEG and JPEG 2000 at a target compression ratio.

Lossy compression is what happens to images in real archives and teleradiology, and it discards
exactly the low-amplitude high-frequency detail a perturbation is made of. Settings are given as
a compression ratio, as in the clinical literature on acceptable lossy compression (about 15:1 for
CT and 24:1 for MR), relative to the slice stored as 8 bits per pixel. Each slice is encoded as
8-bit grey levels (``round(x * 255)``) with Pillow and decoded back to ``/ 255``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from medue.evaluate.countermeasures.base import to_uint8
from medue.evaluate.countermeasures.data import SliceCountermeasure

CT_RATIO = 15.0
MR_RATIO = 24.0


@dataclass(frozen=True, kw_only=True)
class Jpeg(SliceCountermeasure):
    """Baseline JPEG; per slice, the quality whose file size is closest to ``raw / ratio``.

    JPEG is set by quality, not ratio, so the quality is searched (bisection over
    ``qualities``, file size grows with quality). On small slices the headers weigh: where even
    the lowest quality is larger than the target, the lowest quality is used.
    """

    name: str = "jpeg"
    ratio: float = CT_RATIO
    qualities: tuple[int, int] = (1, 95)
    optimize: bool = True  # optimal Huffman tables: the same pixels in a smaller file

    def encode(self, image: np.ndarray) -> bytes:
        """The JPEG file the slice is stored as (its length is the achieved size)."""
        pixels = to_uint8(image)
        target = pixels.size / self.ratio
        return closest_size(lambda quality: self._save(pixels, quality), target, self.qualities)

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        return decode(self.encode(image))

    def _save(self, pixels: np.ndarray, quality: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels, "L").save(buffer, "JPEG", quality=quality, optimize=self.optimize)
        return buffer.getvalue()


@dataclass(frozen=True, kw_only=True)
class Jpeg2000(SliceCountermeasure):
    """JPEG 2000 (OpenJPEG via Pillow) with the rate set directly as a compression ratio.

    Lossy with the irreversible 9/7 wavelet, as lossy clinical JPEG 2000 is; a raw codestream
    (no JP2 boxes). Fewer wavelet levels on slices smaller than 32 pixels, which OpenJPEG needs.
    """

    name: str = "jpeg2000"
    ratio: float = CT_RATIO
    irreversible: bool = True

    def encode(self, image: np.ndarray) -> bytes:
        """The JPEG 2000 codestream the slice is stored as."""
        pixels = to_uint8(image)
        buffer = io.BytesIO()
        Image.fromarray(pixels, "L").save(
            buffer,
            "JPEG2000",
            quality_mode="rates",
            quality_layers=[self.ratio],
            irreversible=self.irreversible,
            no_jp2=True,
            num_resolutions=min(6, int(math.log2(min(pixels.shape))) + 1),
        )
        return buffer.getvalue()

    def apply_slice(self, image: np.ndarray) -> np.ndarray:
        return decode(self.encode(image))


def decode(data: bytes) -> np.ndarray:
    """An encoded 8-bit slice back to float32 in [0, 1]."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def closest_size(
    encode: Callable[[int], bytes], target: float, qualities: tuple[int, int]
) -> bytes:
    """The encoding whose size is closest to ``target`` bytes, size assumed non-decreasing in q.

    Bisection finds the lowest quality above the target, then it or the one below it wins:
    about log2(95) = 7 encodings instead of 95.
    """
    cache: dict[int, bytes] = {}

    def size(quality: int) -> int:
        if quality not in cache:
            cache[quality] = encode(quality)
        return len(cache[quality])

    low, high = qualities
    if size(high) <= target:
        return cache[high]
    while low < high:  # invariant: size(high) > target
        middle = (low + high) // 2
        if size(middle) > target:
            high = middle
        else:
            low = middle + 1
    if high == qualities[0]:
        return cache[high]
    size(high - 1)
    return min(cache[high], cache[high - 1], key=lambda data: abs(len(data) - target))
