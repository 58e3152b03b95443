"""The in-memory volume every layer passes along: native-unit voxels, geometry, storage.

A :class:`Volume` is what the loaders produce and the writers consume. Its array is in *native
units* (HU for CT, scanner units for MR) with axes ordered (z, y, x) as SimpleITK returns them.
:class:`StoredEncoding` says how the file holds those values (integer dtype plus DICOM-style
rescale slope/intercept): it is what decides which native values can be written exactly, so the
protection can be optimised for, and checked on, what actually lands on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

VolumeFormat = Literal["nifti", "nrrd", "metaimage", "dicom"]

SUPPORTED_DTYPES = tuple(
    np.dtype(t)
    for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")
)


@dataclass(frozen=True)
class Geometry:
    """Physical placement of the voxel grid (SimpleITK conventions, x-y-z order, millimetres)."""

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    def matches(self, other: Geometry, tolerance: float = 1e-4) -> bool:
        """True if both grids put voxels in the same place (relative tolerance on each number)."""
        pairs = zip(
            (self.spacing, self.origin, self.direction),
            (other.spacing, other.origin, other.direction),
            strict=True,
        )
        return all(
            len(a) == len(b) and np.allclose(a, b, rtol=tolerance, atol=tolerance) for a, b in pairs
        )


@dataclass(frozen=True)
class StoredEncoding:
    """How native values are stored: ``native = stored * slope + intercept`` in a stored dtype.

    The slope and intercept are the file's own (DICOM RescaleSlope/RescaleIntercept, NIfTI
    ``scl_slope``/``scl_inter``; 1 and 0 where the format has none), so a zero perturbation writes
    back bit-exact. ``bits_stored`` narrows an integer dtype to the bits the file declares in use
    (DICOM BitsStored, PS3.5 section 8.1.1): a 12-bit CT slice in a 16-bit word holds 0..4095
    (or -2048..2047 when signed), and a value outside that range is read differently by readers
    that mask the unused bits, so nothing outside it is ever written.
    """

    stored_dtype: np.dtype
    slope: float = 1.0
    intercept: float = 0.0
    bits_stored: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stored_dtype", np.dtype(self.stored_dtype))
        if self.slope == 0 or not np.isfinite([self.slope, self.intercept]).all():
            raise ValueError(f"invalid scaling: slope {self.slope}, intercept {self.intercept}")

    @property
    def is_integer(self) -> bool:
        return np.issubdtype(self.stored_dtype, np.integer)

    @property
    def is_scaled(self) -> bool:
        return self.slope != 1.0 or self.intercept != 0.0

    @property
    def stored_range(self) -> tuple[float, float]:
        """Lowest and highest stored value the file can hold (bits in use for integers)."""
        if not self.is_integer:
            info = np.finfo(self.stored_dtype)
            return float(info.min), float(info.max)
        info = np.iinfo(self.stored_dtype)
        if self.bits_stored is None or self.bits_stored >= info.bits:
            return float(info.min), float(info.max)
        if info.min < 0:
            return float(-(2 ** (self.bits_stored - 1))), float(2 ** (self.bits_stored - 1) - 1)
        return 0.0, float(2**self.bits_stored - 1)

    @property
    def native_step(self) -> float:
        """Smallest native-unit change the file can hold (0 for floating point storage)."""
        return abs(self.slope) if self.is_integer else 0.0

    @property
    def native_range(self) -> tuple[float, float]:
        """Lowest and highest native value the stored values can represent."""
        low, high = self.stored_range
        ends = (low * self.slope + self.intercept, high * self.slope + self.intercept)
        return float(min(ends)), float(max(ends))

    @property
    def psnr_peak(self) -> float | None:
        """The PSNR peak of an 8-bit file: its full scale (255 x slope), the convention of 2D
        imaging papers (e.g. UMed, arXiv 2403.14250, on 8-bit PNGs); None for wider storage,
        whose PSNR peak is the image's own range."""
        if self.is_integer and self.stored_dtype.itemsize == 1:
            low, high = self.stored_range
            return (high - low) * abs(self.slope)
        return None

    def to_stored(self, native: np.ndarray) -> np.ndarray:
        """Native values to the stored dtype: rounded to the nearest storable value and clipped."""
        raw = np.asarray(native, dtype=np.float64)
        if self.is_scaled:
            raw = (raw - self.intercept) / self.slope
        if not self.is_integer:
            return raw.astype(self.stored_dtype)
        low, high = self.stored_range
        return np.clip(np.rint(raw), low, high).astype(self.stored_dtype)

    def to_native(self, stored: np.ndarray) -> np.ndarray:
        """Stored values to native units, in the narrowest dtype that holds them exactly."""
        if not self.is_scaled:
            return np.asarray(stored)
        native = np.asarray(stored, dtype=np.float64) * self.slope + self.intercept
        if (
            self.is_integer
            and float(self.slope).is_integer()
            and float(self.intercept).is_integer()
        ):
            return native.astype(np.int32 if self._fits_int32() else np.int64)
        return native

    def quantise(self, native: np.ndarray) -> np.ndarray:
        """Native values snapped to what survives a write and a reload (float64 result)."""
        return np.asarray(self.to_native(self.to_stored(native)), dtype=np.float64)

    def describe(self) -> str:
        """'int16 (12 bits), native = 2 * stored - 1024' in a person's words."""
        text = str(self.stored_dtype)
        if self.is_integer and (self.bits_stored or 64) < self.stored_dtype.itemsize * 8:
            text += f" ({self.bits_stored} bits stored)"
        if self.is_scaled:
            text += f", native = {self.slope:g} * stored {self.intercept:+g}"
        return text

    def _fits_int32(self) -> bool:
        low, high = self.native_range
        info = np.iinfo(np.int32)
        return info.min <= low and high <= info.max


@dataclass
class Volume:
    """One image: native-unit voxels (z, y, x), geometry, encoding, and where it came from."""

    array: np.ndarray
    geometry: Geometry
    encoding: StoredEncoding
    format: VolumeFormat
    source: Path | None = None
    modality: str = "unknown"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def with_array(self, array: np.ndarray) -> Volume:
        """A copy carrying new voxel values (same geometry, encoding, format and metadata)."""
        return Volume(
            array=array,
            geometry=self.geometry,
            encoding=self.encoding,
            format=self.format,
            source=self.source,
            modality=self.modality,
            metadata=dict(self.metadata),
        )
