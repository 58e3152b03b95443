"""DICOM series in, DICOM series out: a protected copy is a NEW derived series, never an edit.

Reading lists the folder by header (``files``: image objects by SOP Class, others skipped
and named), stacks the slices after checking they make one volume (``frames``,
``geometry``) and takes the stored pixel values exactly (``pixels``); the volume holds
native units, ``stored * RescaleSlope + RescaleIntercept`` (PS3.3 section C.11.1.1.2), with the
stored values' polarity kept (MONOCHROME1 stays MONOCHROME1).

Writing keeps every tag of each source file and changes only what a derived series must
(PS3.3 C.7.6.1.1.2 Image Type, C.7.6.1.1.3 Derivation Description, C.12.1.1.1 SOP Instance UID):
new Series and SOP Instance UIDs, Image Type DERIVED, a Derivation Description naming MedUE and
the method, the pixel data in Explicit VR Little Endian (PS3.5 section 10.1; a compressed source
comes back uncompressed) and the pixel-range tags that describe it. Bits Allocated/Stored, High
Bit, Pixel Representation, Photometric Interpretation and the rescale stay the source's, so a
zero perturbation writes back the same stored values. A classic series is written one file per
slice under the source names; an enhanced multi-frame file as one file with its frames in the
source order. For multi-frame images the Image Type keeps value 2 (PRIMARY for the enhanced IODs,
C.8.16.1) and the Frame Type of every frame becomes DERIVED.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medue import __version__
from medue.errors import InputError
from medue.io.dicom.files import (
    read_dataset,
    series_files,
)
from medue.io.dicom.frames import classic_planes, is_multiframe, multiframe_planes
from medue.io.dicom.geometry import assemble
from medue.io.dicom.pixels import (
    PixelLayout,
    common_layout,
    encoding_of,
    pixel_bytes,
    pixel_layout,
    stored_frames,
)
from medue.io.volume import Volume

log = logging.getLogger(__name__)

_PIXEL_RANGE_TAGS = (
    ("SmallestImagePixelValue", "LargestImagePixelValue"),
    ("SmallestPixelValueInSeries", "LargestPixelValueInSeries"),
)
_ENCAPSULATION_TAGS = ("ExtendedOffsetTable", "ExtendedOffsetTableLengths")


def read_dicom_series(folder: str | Path) -> Volume:
    """Load the single DICOM image series in ``folder`` (native units after the modality rescale).

    Non-image objects beside it (RT Dose, RT Structure Set, SR, ...) are skipped, logged and
    listed in ``metadata["skipped"]``.
    """
    folder = Path(folder)
    files, skipped = series_files(folder)
    for entry in skipped:
        log.warning("%s: skipped %s (not an image MedUE protects)", folder, entry)
    layout = common_layout(folder, files)
    if any(is_multiframe(header) for _, header in files):
        return _read_multiframe(folder, files, layout, skipped)
    planes = classic_planes(files)
    encoding = encoding_of(folder, layout, planes)
    order, geometry = assemble(folder, planes)
    stored = np.concatenate([stored_frames(files[i][0], layout, encoding) for i in order])
    header = files[order[0]][1]
    metadata = _metadata(header, layout, [files[i][0] for i in order], skipped)
    metadata["padding_native"] = padding_native(header, encoding)
    return _volume(folder, stored, geometry, encoding, header, metadata)


def check_dicom_target(volume: Volume, folder: Path) -> None:
    """Refuse to write a derived series where it would replace the source or foreign files.

    The target may be missing, or an earlier MedUE output (every file a DICOM file whose
    DerivationDescription starts with "MedUE"); anything else is left alone.
    """
    sources = [Path(f) for f in volume.metadata.get("files", [])]
    if sources and folder.resolve() == sources[0].parent.resolve():
        raise InputError(
            folder, "refusing to write over the original series; choose another folder"
        )
    if folder.is_file():
        raise InputError(folder, "a file of this name exists where the series folder would go")
    if folder.is_dir() and not all(_written_by_medue(p) for p in folder.rglob("*") if p.is_file()):
        raise InputError(
            folder, "folder exists and holds files MedUE did not write; choose an empty output"
        )


def stage_dicom_series(volume: Volume, folder: Path, derivation: str) -> list[Path]:
    """Write ``volume`` as a new derived series into the new folder ``folder``.

    ``derivation`` says what was done (e.g. "UMed protection, eps 6 HU"); it is prefixed with
    "MedUE <version>" in DerivationDescription. Returns the folder's name (what to commit).
    """
    sources = [Path(f) for f in volume.metadata.get("files", [])]
    frames = volume.metadata.get("frames")
    slices = len(frames) if frames is not None else len(sources)
    one_file = frames is None or len(sources) == 1
    if volume.format != "dicom" or not sources or not one_file or slices != volume.shape[0]:
        raise InputError(folder, "a DICOM series can only be written from a volume read from one")
    stored = volume.encoding.to_stored(volume.array)
    series_uid = generate_uid()
    description = f"MedUE {__version__}: {derivation}"[:1024]
    series_range = (int(stored.min()), int(stored.max()))
    folder.mkdir()
    if frames is not None:  # one multi-frame file: frames back in the source's order
        in_file_order = np.empty_like(stored)
        in_file_order[np.asarray(frames)] = stored
        parts = [(sources[0], in_file_order)]
    else:
        parts = [(source, stored[index : index + 1]) for index, source in enumerate(sources)]
    for source, pixels in parts:
        dataset = read_dataset(source)
        _derive(dataset, source, pixels, series_uid, description, series_range)
        dataset.save_as(str(folder / source.name), write_like_original=False)
    return [Path(folder.name)]


def _read_multiframe(
    folder: Path, files: list[tuple[Path, Dataset]], layout: PixelLayout, skipped: list[str]
) -> Volume:
    if len(files) > 1:
        names = ", ".join(path.name for path, _ in files[:3])
        raise InputError(
            folder,
            f"series holds {len(files)} files ({names}, ...) of which some are multi-frame; "
            "MedUE reads one multi-frame file or one file per slice",
        )
    path, header = files[0]
    planes = multiframe_planes(path, header)
    encoding = encoding_of(path, layout, planes)
    order, geometry = assemble(path, planes)
    stored = stored_frames(path, layout, encoding)[order]
    metadata = _metadata(header, layout, [path], skipped)
    metadata["frames"] = order
    metadata["padding_native"] = padding_native(header, encoding)
    return _volume(folder, stored, geometry, encoding, header, metadata)


def _volume(folder, stored, geometry, encoding, header, metadata) -> Volume:
    return Volume(
        array=encoding.to_native(stored),
        geometry=geometry,
        encoding=encoding,
        format="dicom",
        source=folder,
        modality=str(header.get("Modality", "unknown")),
        metadata=metadata,
    )


def _metadata(header: Dataset, layout: PixelLayout, files: list[Path], skipped: list[str]):
    return {
        "files": [str(f) for f in files],
        "StudyInstanceUID": str(header.get("StudyInstanceUID", "")),
        "SeriesInstanceUID": str(header.get("SeriesInstanceUID", "")),
        "SeriesDescription": str(header.get("SeriesDescription", "")),
        "photometric_interpretation": layout.photometric,
        "bits_allocated": layout.bits_allocated,
        "bits_stored": layout.bits_stored,
        "pixel_representation": layout.pixel_representation,
        "skipped": list(skipped),
    }


def padding_native(header: Dataset, encoding) -> list[float] | None:
    """Native range [low, high] of Pixel Padding Value (to Pixel Padding Range Limit), or None.

    Padding marks voxels outside the scanned field (PS3.3 C.7.5.1.1.2); a protected copy must
    leave them as they are, or a reader would take them for tissue.
    """
    if "PixelPaddingValue" not in header:
        return None
    ends = [int(header.PixelPaddingValue)]
    if "PixelPaddingRangeLimit" in header:
        ends.append(int(header.PixelPaddingRangeLimit))
    native = [float(encoding.to_native(np.asarray(end))) for end in ends]
    return [min(native), max(native)]


def _written_by_medue(path: Path) -> bool:
    try:
        header = pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception:  # not DICOM at all
        return False
    return str(header.get("DerivationDescription", "")).startswith("MedUE")


def _derive(
    dataset: FileDataset,
    source: Path,
    pixels: np.ndarray,
    series_uid: str,
    description: str,
    series_range: tuple[int, int],
) -> None:
    """Turn one source file into the matching file of the derived series, in place."""
    layout = pixel_layout(source, dataset)
    sop_uid = generate_uid()
    dataset.SeriesInstanceUID = series_uid
    dataset.SOPInstanceUID = sop_uid
    meta = getattr(dataset, "file_meta", None) or FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta = meta
    dataset.is_little_endian, dataset.is_implicit_VR = True, False
    _mark_derived(dataset)
    earlier = str(dataset.get("DerivationDescription", "")).strip()  # e.g. "JPEG lossy 76:1"
    dataset.DerivationDescription = (
        f"{description}; source: {earlier}" if earlier else description
    )[:1024]  # VR ST: at most 1024 characters
    for keyword in _ENCAPSULATION_TAGS:
        if keyword in dataset:
            delattr(dataset, keyword)
    dataset.PixelData = pixel_bytes(pixels, layout)
    dataset["PixelData"].VR = "OW" if layout.bits_allocated > 8 else "OB"
    dataset["PixelData"].is_undefined_length = False
    ranges = ((int(pixels.min()), int(pixels.max())), series_range)
    for (low_tag, high_tag), (low, high) in zip(_PIXEL_RANGE_TAGS, ranges, strict=True):
        for keyword, value in ((low_tag, low), (high_tag, high)):
            if keyword in dataset:
                dataset[keyword].VR = "SS" if layout.pixel_representation else "US"
                dataset[keyword].value = value


def _mark_derived(dataset: Dataset) -> None:
    """Image Type value 1 DERIVED (value 2 SECONDARY for classic images); Frame Types too."""
    image_type = _values(dataset.get("ImageType")) or ["ORIGINAL", "PRIMARY"]
    if "PerFrameFunctionalGroupsSequence" in dataset:
        dataset.ImageType = ["DERIVED", *(image_type[1:] or ["PRIMARY"])]
        groups = [
            *(dataset.get("SharedFunctionalGroupsSequence") or []),
            *(dataset.get("PerFrameFunctionalGroupsSequence") or []),
        ]
        for group in groups:
            for element in group:
                if element.keyword.endswith("FrameTypeSequence"):
                    for item in element.value:
                        frame_type = _values(item.get("FrameType"))
                        if frame_type:
                            item.FrameType = ["DERIVED", *frame_type[1:]]
    else:
        dataset.ImageType = ["DERIVED", "SECONDARY", *image_type[2:]]


def _values(value) -> list[str]:
    """A multi-valued code string as a list (a single value comes back as a str from pydicom)."""
    if value is None or value == "":
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]
