#!/usr/bin/env python3
"""Build MedUE's sample dataset from the pyradiomics 3.0.1 source archive on PyPI.

Usage: ``python sample_data/build.py [--out DIR]`` (default: ``build/`` beside this file).

Why this way: the five clinical cases that pyradiomics' own test suite uses (brain1, brain2,
breast1, lung1, lung2: images plus lesion masks) ship inside its sdist, so the only download is
one checksummed file from a package registry, and nothing large is committed to the repo. The
builder turns them into what MedUE reads:

* ``OUT/pyradiomics/<case>.nii.gz`` and ``OUT/pyradiomics/labels/final/<case>.nii.gz`` -- MONAI
  Label's local-datastore layout (images keep the NRRD's dtype and geometry, labels are uint8);
* ``OUT/dicom/lung1/slice_NNNN.dcm`` -- the lung1 CT as a DICOM series (int16, HU + 1024 with
  RescaleIntercept -1024), checked to read back exactly through GDCM, plus its mask
  ``OUT/dicom/lung1_label.nii.gz``;
* ``OUT/PROVENANCE.txt`` and the stamp ``OUT/.built``.

It is idempotent: when ``OUT/.built`` holds :data:`BUILD_VERSION` it prints "sample data up to
date" and exits at once (heavy modules are imported only when a build is needed). A build goes
into a temporary folder beside OUT that is renamed into place at the end, so an interrupted build
never leaves a half dataset.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy modules are imported inside the functions that need them
    import numpy as np
    import SimpleITK as sitk
    from pydicom.dataset import Dataset, FileDataset

BUILD_VERSION = "pyradiomics-3.0.1/v1"
PACKAGE = "pyradiomics"
VERSION = "3.0.1"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
SDIST_SHA256 = "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5"
SOURCE_URL = f"https://pypi.org/project/{PACKAGE}/{VERSION}/"

# The NRRDs carry no modality; this is what pyradiomics documents for its test cases.
CASES: dict[str, str] = {
    "brain1": "MR",
    "brain2": "MR",
    "breast1": "MR",
    "lung1": "CT",
    "lung2": "CT",
}
DICOM_CASE = "lung1"
HU_OFFSET = 1024  # stored = HU + 1024, RescaleIntercept = -1024: the usual CT encoding.
TOLERANCE = 1e-4  # mm (and direction cosines): "same grid" / "same geometry".

DEFAULT_OUT = Path(__file__).resolve().parent / "build"
STAMP = ".built"
EXTRACT_STAMP = ".extracted"
LOG_PREFIX = "[sample-data]"


class BuildError(Exception):
    """A build problem explained in one line (bad download, bad archive, failed check)."""


@dataclass
class Case:
    """One case read from the archive: image, uint8 label on the image grid, and what was done."""

    name: str
    modality: str
    image: sitk.Image
    label: sitk.Image
    lesion_voxels: int
    note: str = ""


def log(message: str) -> None:
    """Print one progress line now (flushed, so it shows up in CI logs as it happens)."""
    print(f"{LOG_PREFIX} {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Download and extraction
# ---------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The download cache: ``$MEDUE_CACHE`` or ``~/.cache/medue/downloads`` (shared by builds)."""
    folder = Path(os.environ.get("MEDUE_CACHE") or Path.home() / ".cache" / "medue" / "downloads")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (the sdist is 34 MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str = SDIST_SHA256) -> None:
    """Refuse to build from anything but the exact archive this builder was written against."""
    actual = sha256_of(path)
    if actual != expected:
        raise BuildError(
            f"{path.name} has sha256 {actual}, expected {expected}: "
            "the registry served a different file, refusing to build from it"
        )


def download_sdist(cache: Path) -> Path:
    """Return the checksummed sdist in ``cache``, fetching it with pip only when needed.

    pip is used (not a hand-made URL) because it is the one client that reaches the registry
    everywhere this project runs. ``--no-build-isolation`` lets pip's metadata step use this
    interpreter's numpy/setuptools instead of installing build dependencies.
    """
    target = cache / SDIST
    if target.is_file() and sha256_of(target) == SDIST_SHA256:
        log(f"{SDIST} found in {cache} (sha256 ok)")
        return target
    log(f"downloading {SDIST} with pip into {cache}")
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=cache) as tmp:
        run_pip_download(Path(tmp))
        fetched = Path(tmp) / SDIST
        if not fetched.is_file():
            raise BuildError(f"pip download did not produce {SDIST} in {tmp}")
        verify_sha256(fetched)
        os.replace(fetched, target)
    return target


def run_pip_download(folder: Path) -> None:
    """``pip download`` the sdist into ``folder``; on failure show pip's last error line."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--no-build-isolation",
        "-d",
        str(folder),
        f"{PACKAGE}=={VERSION}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:]
        raise BuildError(f"pip download {PACKAGE}=={VERSION} failed: {' | '.join(errors)}")


def is_data_nrrd(name: str) -> bool:
    """True for ``<top>/data/<file>.nrrd`` members (the test cases, not the baseline folder)."""
    parts = PurePosixPath(name).parts
    return len(parts) == 3 and parts[1] == "data" and parts[2].endswith(".nrrd")


def check_member(member: tarfile.TarInfo) -> None:
    """Reject absolute paths, ``..`` and anything but a regular file (safe extraction)."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not member.isfile():
        raise BuildError(f"unsafe archive member {member.name!r}: refusing to extract it")


def extract_data_nrrds(sdist: Path, dest: Path) -> list[Path]:
    """Extract only ``*/data/*.nrrd`` from the sdist into ``dest`` (flat), each file atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            if not is_data_nrrd(member.name):
                continue
            check_member(member)
            source = tar.extractfile(member)
            if source is None:
                raise BuildError(f"cannot read archive member {member.name!r}")
            target = dest / PurePosixPath(member.name).name
            temporary = dest / f".tmp-{target.name}"
            with source, temporary.open("wb") as handle:
                shutil.copyfileobj(source, handle)
            os.replace(temporary, target)
            written.append(target)
    return written


def expected_nrrds() -> list[str]:
    """The ten NRRD file names the archive must provide."""
    return [f"{case}_{kind}.nrrd" for case in CASES for kind in ("image", "label")]


def source_data_dir(cache: Path | None = None) -> Path:
    """Where the extracted NRRDs live: ``<cache>/pyradiomics-3.0.1/data``."""
    return (cache or cache_dir()) / f"{PACKAGE}-{VERSION}" / "data"


def ensure_source(cache: Path | None = None) -> Path:
    """Return the folder of extracted NRRDs, downloading/extracting only what is missing."""
    cache = cache or cache_dir()
    data = source_data_dir(cache)
    stamp = data / EXTRACT_STAMP
    present = all((data / name).is_file() for name in expected_nrrds())
    if present and stamp.is_file() and stamp.read_text().strip() == SDIST_SHA256:
        return data
    sdist = download_sdist(cache)
    log(f"extracting data/*.nrrd from {SDIST}")
    extract_data_nrrds(sdist, data)
    missing = [name for name in expected_nrrds() if not (data / name).is_file()]
    if missing:
        raise BuildError(f"{SDIST} lacks {', '.join(missing)}")
    stamp.write_text(SDIST_SHA256 + "\n")
    return data


# ---------------------------------------------------------------------------------------------
# Reading and checking the cases
# ---------------------------------------------------------------------------------------------


def same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    """True if both images have the same size and put voxels at the same places (1e-4 mm)."""
    import numpy as np

    return a.GetSize() == b.GetSize() and all(
        np.allclose(x, y, rtol=0, atol=TOLERANCE)
        for x, y in (
            (a.GetSpacing(), b.GetSpacing()),
            (a.GetOrigin(), b.GetOrigin()),
            (a.GetDirection(), b.GetDirection()),
        )
    )


def label_on_image_grid(image: sitk.Image, label: sitk.Image) -> tuple[sitk.Image, str]:
    """The label on exactly the image's grid, resampled nearest-neighbour only if it is not.

    When the grids already agree (to 1e-4 mm) the image's geometry is copied onto the label, so
    the written pair is bit-identical in geometry and no reader can disagree about alignment.
    """
    import SimpleITK as sitk

    if same_grid(image, label):
        label = sitk.Image(label)
        label.CopyInformation(image)
        return label, ""
    resampled = sitk.Resample(
        label, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, label.GetPixelID()
    )
    return resampled, "label was not on the image grid: resampled nearest-neighbour onto it"


def binary_uint8(label: sitk.Image, name: str) -> tuple[sitk.Image, int]:
    """The label as uint8 0/1 plus its lesion voxel count; fail if it is not a binary mask."""
    import numpy as np
    import SimpleITK as sitk

    values = sitk.GetArrayViewFromImage(label)
    if not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() > 1:
        raise BuildError(f"{name}_label.nrrd is not a 0/1 mask ({values.dtype}, {values.max()})")
    count = int(np.count_nonzero(values))
    if count == 0:
        raise BuildError(f"{name}_label.nrrd is empty")
    return sitk.Cast(label, sitk.sitkUInt8), count


def read_case(data: Path, name: str) -> Case:
    """Read one image/label pair from the extracted NRRDs and check it (3D, binary, on grid)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(data / f"{name}_image.nrrd"))
    label = sitk.ReadImage(str(data / f"{name}_label.nrrd"))
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise BuildError(f"{name}_image.nrrd is not a scalar 3D image")
    label, note = label_on_image_grid(image, label)
    label, count = binary_uint8(label, name)
    return Case(name, CASES[name], image, label, count, note)


def dtype_name(image: sitk.Image) -> str:
    """numpy's name for the image's pixel type (``int16``...), as the README table shows it."""
    import SimpleITK as sitk

    return str(sitk.GetArrayViewFromImage(image).dtype)


def describe(case: Case) -> str:
    """One line: modality, shape (x*y*z), spacing, dtype, lesion voxels."""
    size = "x".join(str(n) for n in case.image.GetSize())
    spacing = "x".join(f"{s:.4g}" for s in case.image.GetSpacing())
    return (
        f"{case.name}: {case.modality} {size} {dtype_name(case.image)}, spacing {spacing} mm, "
        f"{case.lesion_voxels} lesion voxels"
    )


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_image_atomically(image: sitk.Image, path: Path) -> None:
    """Write via ``.tmp-<name>`` in the same folder (keeps the extension SimpleITK goes by)."""
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp-{path.name}")
    sitk.WriteImage(image, str(temporary), useCompression=True)
    os.replace(temporary, path)


def write_datastore(cases: list[Case], root: Path) -> None:
    """MONAI Label local datastore: ``<case>.nii.gz`` and ``labels/final/<case>.nii.gz``."""
    for case in cases:
        write_image_atomically(case.image, root / f"{case.name}.nii.gz")
        write_image_atomically(case.label, root / "labels" / "final" / f"{case.name}.nii.gz")


def ds_number(value: float) -> str:
    """A float as a valid DICOM DS string (at most 16 characters)."""
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


def stored_ct_values(image: sitk.Image) -> np.ndarray:
    """HU + 1024 as (z, y, x) int16, checked to fit, so RescaleIntercept -1024 gives HU back."""
    import numpy as np
    import SimpleITK as sitk

    hu = sitk.GetArrayFromImage(image).astype(np.int32)
    stored = hu + HU_OFFSET
    info = np.iinfo(np.int16)
    if stored.min() < info.min or stored.max() > info.max:
        raise BuildError(f"HU + {HU_OFFSET} does not fit int16 ({stored.min()}..{stored.max()})")
    return stored.astype(np.int16)


@dataclass(frozen=True)
class SeriesIds:
    """UIDs and date shared by every slice of the series."""

    study: str
    series: str
    frame_of_reference: str
    date: str
    time: str


def new_series_ids() -> SeriesIds:
    """Fresh UIDs (``generate_uid``) and today's date for a new DICOM series."""
    from pydicom.uid import generate_uid

    now = datetime.datetime.now(datetime.timezone.utc)
    date, clock = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    return SeriesIds(generate_uid(), generate_uid(), generate_uid(), date, clock)


def slice_dataset(image: sitk.Image, pixels: np.ndarray, k: int, ids: SeriesIds) -> FileDataset:
    """One CT Image Storage slice ``k`` of ``image`` (stored values ``pixels``, (y, x) int16)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import (
        PYDICOM_IMPLEMENTATION_UID,
        CTImageStorage,
        ExplicitVRLittleEndian,
        generate_uid,
    )

    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False

    add_patient_study_series(ds, ids)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = k + 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    add_geometry(ds, image, k)
    add_pixels(ds, pixels)
    return ds


def add_patient_study_series(ds: Dataset, ids: SeriesIds) -> None:
    """Patient/study/series/frame-of-reference attributes shared by all slices."""
    ds.PatientName = "MedUE^Sample"
    ds.PatientID = "MEDUE-LUNG1"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = ids.study
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ids.date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ids.time
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "MedUE sample data"
    ds.Modality = "CT"
    ds.Manufacturer = "MedUE sample_data/build.py"
    ds.SeriesInstanceUID = ids.series
    ds.SeriesNumber = 1
    ds.SeriesDescription = f"{PACKAGE} {VERSION} test case {DICOM_CASE} (CT)"
    ds.FrameOfReferenceUID = ids.frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.KVP = ""
    ds.PatientPosition = ""  # type 2: the archive does not say how the patient lay
    ds.AcquisitionNumber = 1


def add_geometry(ds: Dataset, image: sitk.Image, k: int) -> None:
    """Position, orientation and spacing of slice ``k`` from the SimpleITK geometry (LPS, mm)."""
    direction = image.GetDirection()
    spacing = image.GetSpacing()
    position = image.TransformIndexToPhysicalPoint((0, 0, k))
    row_cosines = (direction[0], direction[3], direction[6])  # along increasing column (x)
    column_cosines = (direction[1], direction[4], direction[7])  # along increasing row (y)
    ds.ImagePositionPatient = [ds_number(v) for v in position]
    ds.ImageOrientationPatient = [ds_number(v) for v in (*row_cosines, *column_cosines)]
    ds.PixelSpacing = [ds_number(spacing[1]), ds_number(spacing[0])]
    ds.SliceThickness = ds_number(spacing[2])
    ds.SliceLocation = ds_number(position[2])


def add_pixels(ds: Dataset, pixels: np.ndarray) -> None:
    """Signed 16-bit MONOCHROME2 pixels with the HU rescale (slope 1, intercept -1024)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = str(-HU_OFFSET)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.PixelData = pixels.astype("<i2").tobytes()


def write_dicom_series(image: sitk.Image, folder: Path) -> int:
    """Write ``image`` (HU) as one ``slice_NNNN.dcm`` per axial slice; return the slice count."""
    folder.mkdir(parents=True, exist_ok=True)
    stored = stored_ct_values(image)
    ids = new_series_ids()
    for k in range(stored.shape[0]):
        path = folder / f"slice_{k:04d}.dcm"
        temporary = folder / f".tmp-{path.name}"
        slice_dataset(image, stored[k], k, ids).save_as(temporary, write_like_original=False)
        os.replace(temporary, path)
    return stored.shape[0]


def verify_dicom_series(folder: Path, image: sitk.Image) -> None:
    """Read the series back with GDCM; voxels must equal the HU volume, geometry within 1e-4."""
    import numpy as np
    import SimpleITK as sitk

    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    expected_slices = image.GetSize()[2]
    if len(names) != expected_slices:
        raise BuildError(f"GDCM found {len(names)} files in {folder}, expected {expected_slices}")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    back = reader.Execute()
    if not same_grid(back, image):
        raise BuildError(
            f"DICOM series in {folder} reads back with a different geometry: "
            f"origin {back.GetOrigin()} spacing {back.GetSpacing()} vs "
            f"{image.GetOrigin()} {image.GetSpacing()}"
        )
    if not np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image)):
        raise BuildError(f"DICOM series in {folder} reads back with different voxel values")


def write_dicom_case(case: Case, dicom_root: Path) -> int:
    """The DICOM copy of the CT case, verified through GDCM, plus its mask beside the folder."""
    slices = write_dicom_series(case.image, dicom_root / case.name)
    verify_dicom_series(dicom_root / case.name, case.image)
    write_image_atomically(case.label, dicom_root / f"{case.name}_label.nii.gz")
    return slices


def write_provenance(out: Path, cases: list[Case], dicom_slices: int) -> None:
    """``PROVENANCE.txt``: where the data came from, when it was built, and what was converted."""
    import pydicom
    import SimpleITK as sitk

    built = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        "MedUE sample data",
        f"source package: {PACKAGE} {VERSION} sdist ({SDIST}) from PyPI, {SOURCE_URL}",
        f"sha256: {SDIST_SHA256}",
        "licence: pyradiomics is BSD-3-Clause (Copyright 2017 Harvard Medical School)",
        f"build version: {BUILD_VERSION}",
        f"built: {built}",
        f"tools: SimpleITK {sitk.Version.VersionString()}, pydicom {pydicom.__version__}",
        "",
        "converted (from data/<case>_image.nrrd and data/<case>_label.nrrd in the archive):",
    ]
    for case in cases:
        lines.append(f"  {describe(case)}")
        lines.append(f"    -> pyradiomics/{case.name}.nii.gz (same dtype and geometry)")
        lines.append(f"    -> pyradiomics/labels/final/{case.name}.nii.gz (uint8 0/1)")
        lines.append(f"    note: {case.note or 'label already on the image grid'}")
    lines += [
        f"  {DICOM_CASE} also -> dicom/{DICOM_CASE}/slice_NNNN.dcm ({dicom_slices} slices,"
        " CT Image Storage, int16 = HU + 1024, RescaleIntercept -1024; GDCM read-back checked)",
        f"  {DICOM_CASE} mask -> dicom/{DICOM_CASE}_label.nii.gz",
        "",
    ]
    (out / "PROVENANCE.txt").write_text("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# The build as a whole
# ---------------------------------------------------------------------------------------------


def is_up_to_date(out: Path) -> bool:
    """True if ``out`` was completely built by this version of the builder."""
    stamp = out / STAMP
    return stamp.is_file() and stamp.read_text().strip() == BUILD_VERSION


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Serialise concurrent builds (two pytest runs, a demo and a test) on one lock file."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent builds there are the user's business.
        yield
        return
    with (folder / ".build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def remove_leftovers(out: Path) -> None:
    """Delete temporary folders that a killed build left beside ``out`` (we hold the lock)."""
    for pattern in (f".{out.name}.tmp-*", f".{out.name}.old-*"):
        for path in out.parent.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def build_into(staging: Path) -> None:
    """Build the whole dataset into ``staging`` (a fresh folder)."""
    data = ensure_source()
    cases = [read_case(data, name) for name in CASES]
    for case in cases:
        log(describe(case) + (f" ({case.note})" if case.note else ""))
    log("writing NIfTI images and labels (MONAI Label datastore layout)")
    write_datastore(cases, staging / "pyradiomics")
    dicom_case = next(case for case in cases if case.name == DICOM_CASE)
    log(f"writing {DICOM_CASE} as a DICOM series and reading it back with GDCM")
    slices = write_dicom_case(dicom_case, staging / "dicom")
    log(f"DICOM series ok: {slices} slices equal the HU volume")
    write_provenance(staging, cases, slices)
    (staging / STAMP).write_text(BUILD_VERSION + "\n")


def install(staging: Path, out: Path) -> None:
    """Move the finished build into place, replacing an older one."""
    old = None
    if out.exists() or out.is_symlink():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(out: Path) -> None:
    """Build ``out`` from scratch in a temporary sibling folder, renamed into place at the end."""
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the dataset is meant to be shared/served
    try:
        build_into(staging)
        install(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line: only ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the sample data unless it is up to date; 0 on success, 1 with one line on failure."""
    out = parse_args(argv).out.absolute()
    if is_up_to_date(out):
        print(f"sample data up to date in {out}")
        return 0
    started = time.monotonic()
    try:
        with build_lock(cache_dir()):
            if is_up_to_date(out):  # another process built it while we waited for the lock
                print(f"sample data up to date in {out}")
                return 0
            log(f"building {BUILD_VERSION} into {out}")
            build(out)
    except BuildError as error:
        print(f"{LOG_PREFIX} build failed: {error}", file=sys.stderr, flush=True)
        return 1
    log(f"sample data built in {out} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
