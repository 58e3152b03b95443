"""Tiny synthetic DICOM objects built with pydicom alone, for the DICOM reader/writer tests.

Each builder writes real Part 10 files (preamble, file meta, Explicit VR Little Endian unless
asked otherwise) with just the attributes the reader relies on: a 4-slice 16x16 CT series, the
same with MONOCHROME1/12-bit/signed variants, RT objects to sit beside it, an Enhanced CT file
with per-frame functional groups, an NM tomogram, an ultrasound cine. ``test_dicom_files`` checks
the builders themselves produce files pydicom and GDCM read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from medue.intensity import apply_within_budget
from medue.io import Volume, read_volume, write_volume

NM_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
BASIC_TEXT_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.11"
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
GSPS_STORAGE = "1.2.840.10008.5.1.4.1.1.11.1"
DERIVED_TAGS = {
    "SeriesInstanceUID", "SOPInstanceUID", "ImageType", "DerivationDescription", "PixelData",
    "SmallestImagePixelValue", "LargestImagePixelValue", "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
}  # fmt: skip


@dataclass
class Study:
    """UIDs shared by the objects of one synthetic study (a new series UID per call)."""

    study: str = field(default_factory=generate_uid)
    frame_of_reference: str = field(default_factory=generate_uid)

    def series(self) -> str:
        return generate_uid()


def new_dataset(sop_class: str, modality: str, study: Study, series_uid: str) -> FileDataset:
    """An empty Part 10 dataset with patient/study/series identity filled in."""
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.PatientName, ds.PatientID = "Synthetic^Case", "SYN-1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study.study, series_uid
    ds.FrameOfReferenceUID = study.frame_of_reference
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, 1
    ds.StudyDate, ds.StudyTime = "20240101", "120000"
    return ds


def set_pixels(
    ds: Dataset,
    stored: np.ndarray,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    signed: bool = True,
    high_bit: int | None = None,
) -> None:
    """Image Pixel module for greyscale ``stored`` values (frames, rows, cols) or (rows, cols)."""
    bits = stored.dtype.itemsize * 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.Rows, ds.Columns = (int(n) for n in stored.shape[-2:])
    ds.BitsAllocated = bits
    ds.BitsStored = bits_stored or bits
    ds.HighBit = (bits_stored or bits) - 1 if high_bit is None else high_bit
    ds.PixelRepresentation = int(signed)
    ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()


def ct_series(
    folder: Path,
    stored: np.ndarray,
    study: Study | None = None,
    slope: float = 1.0,
    intercept: float = -1024.0,
    spacing: tuple[float, float, float] = (0.7, 0.7, 2.5),
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    sop_class: str = CTImageStorage,
    modality: str = "CT",
    edit: Callable[[FileDataset, int], None] | None = None,
    series_uid: str | None = None,
    prefix: str = "slice_",
    **pixel_options,
) -> list[Path]:
    """One file per slice of ``stored`` (z, y, x), ``spacing`` (x, y, z) mm; ``edit(ds, k)``
    may change slice ``k`` before it is saved. Files are named in reverse slice order, so the
    reader must sort by position, not by name."""
    study = study or Study()
    series_uid = series_uid or study.series()
    folder.mkdir(parents=True, exist_ok=True)
    row, column = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row, column)
    paths = []
    for k in range(stored.shape[0]):
        ds = new_dataset(sop_class, modality, study, series_uid)
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        position = np.array([-10.0, -20.0, 30.0]) + k * spacing[2] * normal
        ds.ImagePositionPatient = [f"{v:.6g}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6g}" for v in orientation]
        ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[0]:g}"]
        ds.SliceThickness = f"{spacing[2]:g}"
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        set_pixels(ds, stored[k], **pixel_options)
        ds.SmallestImagePixelValue = int(stored[k].min())
        ds.LargestImagePixelValue = int(stored[k].max())
        if edit is not None:
            edit(ds, k)
        path = folder / f"{prefix}{stored.shape[0] - k:03d}.dcm"
        ds.save_as(str(path), write_like_original=False)
        paths.append(path)
    return paths


def ramp(shape=(4, 16, 16), low: int = 0, step: int = 7, dtype="int16") -> np.ndarray:
    """Distinct stored values low, low + step, ... in ``shape``."""
    return (low + step * np.arange(int(np.prod(shape)))).reshape(shape).astype(dtype)


def rt_dose(path: Path, study: Study, frames: int = 3) -> Path:
    """An RT Dose grid: pixel data and positions, but a dose, not an image to protect."""
    ds = new_dataset(RT_DOSE_STORAGE, "RTDOSE", study, study.series())
    ds.NumberOfFrames = frames
    ds.GridFrameOffsetVector = [float(2.5 * k) for k in range(frames)]
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.ImagePositionPatient = [-10, -20, 30]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [2, 2]
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = "GY", "PHYSICAL", "PLAN"
    ds.DoseGridScaling = "0.001"
    set_pixels(ds, ramp((frames, 8, 8), dtype="uint32"), signed=False)
    ds.save_as(str(path), write_like_original=False)
    return path


def non_image(path: Path, study: Study, sop_class: str, modality: str) -> Path:
    """A header-only object (RTSTRUCT, RTPLAN, SR, SEG, presentation state)."""
    ds = new_dataset(sop_class, modality, study, study.series())
    ds.save_as(str(path), write_like_original=False)
    return path


def enhanced_ct(
    path: Path,
    stored: np.ndarray,
    frame_order: list[int],
    study: Study | None = None,
    spacing: tuple[float, float, float] = (0.7, 0.7, 2.5),
    per_frame: Callable[[Dataset, int], None] | None = None,
    sop_class: str = EnhancedCTImageStorage,
    modality: str = "CT",
) -> Path:
    """One multi-frame file: frame i of the file holds slice ``frame_order[i]`` of ``stored``.

    Geometry and rescale live in the functional groups (PS3.3 C.7.6.16), as in Enhanced CT.
    """
    study = study or Study()
    ds = new_dataset(sop_class, modality, study, study.series())
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.NumberOfFrames = len(frame_order)
    ds.ContentQualification, ds.BurnedInAnnotation = "PRODUCT", "NO"
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [spacing[1], spacing[0]]
    measures.SliceThickness = spacing[2]
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, -1024, "HU"
    frame_type = Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelValueTransformationSequence = Sequence([transform])
    shared.CTImageFrameTypeSequence = Sequence([frame_type])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    groups = []
    for index, z in enumerate(frame_order):
        group, position, content = Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = [-10.0, -20.0, 30.0 + z * spacing[2]]
        content.StackID, content.InStackPositionNumber = "1", z + 1
        content.DimensionIndexValues = [1, z + 1]
        group.PlanePositionSequence = Sequence([position])
        group.FrameContentSequence = Sequence([content])
        if per_frame is not None:
            per_frame(group, index)
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    set_pixels(ds, stored[np.asarray(frame_order)])
    ds.save_as(str(path), write_like_original=False)
    return path


def nm_tomogram(path: Path, stored: np.ndarray, spacing: float = 4.0) -> Path:
    """A reconstructed SPECT volume as one NM multi-frame file (frames along SliceVector)."""
    ds = new_dataset(NM_STORAGE, "NM", Study(), generate_uid())
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.NumberOfFrames = stored.shape[0]
    ds.NumberOfSlices = stored.shape[0]
    ds.SliceVector = list(range(1, stored.shape[0] + 1))
    ds.FrameIncrementPointer = pydicom.tag.Tag("SliceVector")
    detector = Dataset()
    detector.ImagePositionPatient = [-30.0, -30.0, -12.0]
    detector.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.DetectorInformationSequence = Sequence([detector])
    ds.NumberOfDetectors = 1
    ds.PixelSpacing = [spacing, spacing]
    ds.SpacingBetweenSlices = spacing
    ds.SliceThickness = spacing
    set_pixels(ds, stored, signed=False)
    ds.save_as(str(path), write_like_original=False)
    return path


def us_cine(path: Path, frames: int = 3) -> Path:
    """An ultrasound cine loop: greyscale frames with no patient positions."""
    ds = new_dataset(US_MULTIFRAME_STORAGE, "US", Study(), generate_uid())
    ds.NumberOfFrames = frames
    ds.FrameTime = 33.3
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    set_pixels(ds, ramp((frames, 16, 16), dtype="uint8", step=1), signed=False)
    ds.save_as(str(path), write_like_original=False)
    return path


def protect(
    source: Path, out: Path, change: np.ndarray, epsilon: float
) -> tuple[Volume, Volume, Path]:
    """Read ``source``, add ``change`` (native units) within ``epsilon``, write it to ``out``."""
    volume = read_volume(source)
    perturbed = apply_within_budget(volume.array, change, epsilon, volume.encoding)
    protected = volume.with_array(perturbed)
    return volume, protected, write_volume(protected, out, derivation="test change")


def raw_words(ds: Dataset) -> np.ndarray:
    """The Pixel Data words as written, without any decoding (frames, rows, cols)."""
    kind = "i" if ds.PixelRepresentation else "u"
    dtype = np.dtype(f"<{kind}{ds.BitsAllocated // 8}")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    count = frames * ds.Rows * ds.Columns
    return np.frombuffer(ds.PixelData, dtype=dtype, count=count).reshape(frames, ds.Rows, -1)


def assert_header_kept(source: Dataset, written: Dataset, changed: tuple[str, ...] = ()) -> None:
    """Every source element is in ``written`` unchanged, apart from the derived ones."""
    assert written.SeriesInstanceUID != source.SeriesInstanceUID
    assert written.SOPInstanceUID != source.SOPInstanceUID
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    assert written.ImageType[0] == "DERIVED"
    assert written.DerivationDescription.startswith("MedUE")
    for element in source:
        if element.keyword not in DERIVED_TAGS | set(changed):
            assert written[element.tag].value == element.value, element.keyword


def written_pairs(volume: Volume, out: Path) -> list[tuple[Dataset, Dataset]]:
    """(source, written) datasets of a classic series, in the volume's slice order."""
    sources = [Path(f) for f in volume.metadata["files"]]
    return [(pydicom.dcmread(s), pydicom.dcmread(out / s.name)) for s in sources]


def assert_faithful_write(volume: Volume, protected: Volume, out: Path, epsilon: float) -> None:
    """The written stored words are the source's plus the change, in range, within budget."""
    low, high = volume.encoding.stored_range
    pairs = written_pairs(volume, out)
    assert {p.name for p in out.iterdir()} == {Path(f).name for f in volume.metadata["files"]}
    for index, (source, written) in enumerate(pairs):
        assert_header_kept(source, written)
        words = raw_words(written)[0]
        np.testing.assert_array_equal(written.pixel_array, words)
        expected = volume.encoding.to_stored(protected.array[index])
        np.testing.assert_array_equal(words, expected)
        assert low <= words.min() and words.max() <= high
        native = words * float(written.RescaleSlope) + float(written.RescaleIntercept)
        assert np.abs(native - volume.array[index]).max() <= epsilon + 1e-9
        assert written.PhotometricInterpretation == source.PhotometricInterpretation
        for keyword in ("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation"):
            assert written[keyword].value == source[keyword].value


def label_on_grid(series: Path, path: Path, box=(slice(1, 3), slice(4, 12), slice(4, 12))) -> Path:
    """A label with a box of 1s on ``series``' own grid, written by SimpleITK (as an annotator's
    tool would export it) to ``path``."""
    volume = read_volume(series)
    label = np.zeros(volume.shape, np.uint8)
    label[box] = 1
    image = sitk.GetImageFromArray(label)
    image.SetSpacing(volume.geometry.spacing)
    image.SetOrigin(volume.geometry.origin)
    image.SetDirection(volume.geometry.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path
