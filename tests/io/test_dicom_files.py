"""Listing DICOM folders from the field: image series kept, other objects skipped and named."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from medue.datasets import discover_cases, load_case
from medue.errors import InputError, NotAnImage
from medue.io import is_dicom_folder, looks_like_dicom_folder, read_volume, write_volume
from tests.io.dicom_builders import (
    BASIC_TEXT_SR_STORAGE,
    GSPS_STORAGE,
    RT_PLAN_STORAGE,
    RT_STRUCT_STORAGE,
    SEGMENTATION_STORAGE,
    Study,
    ct_series,
    enhanced_ct,
    label_on_grid,
    non_image,
    ramp,
    rt_dose,
)


def ct_with_rt_objects(folder: Path) -> Study:
    """A CT series with the RT and report objects a planning export puts beside it."""
    study = Study()
    ct_series(folder, ramp(), study=study)
    rt_dose(folder / "RD.dose.dcm", study)
    non_image(folder / "RS.struct.dcm", study, RT_STRUCT_STORAGE, "RTSTRUCT")
    non_image(folder / "RP.plan.dcm", study, RT_PLAN_STORAGE, "RTPLAN")
    non_image(folder / "SR.report.dcm", study, BASIC_TEXT_SR_STORAGE, "SR")
    non_image(folder / "SEG.dcm", study, SEGMENTATION_STORAGE, "SEG")
    non_image(folder / "PR.dcm", study, GSPS_STORAGE, "PR")
    (folder / "README").write_text("exported by the planning system\n")
    non_image(folder / "DICOMDIR", study, "1.2.840.10008.1.3.10", "")
    return study


SKIPPED = [
    "PR.dcm: Grayscale Softcopy Presentation State Storage",
    "RD.dose.dcm: RT Dose Storage",
    "RP.plan.dcm: RT Plan Storage",
    "RS.struct.dcm: RT Structure Set Storage",
    "SEG.dcm: Segmentation Storage",
    "SR.report.dcm: Basic Text SR Storage",
]


def test_rt_objects_beside_a_ct_series_are_skipped_and_named(tmp_path, caplog):
    ct_with_rt_objects(tmp_path / "ct")
    assert is_dicom_folder(tmp_path / "ct") and looks_like_dicom_folder(tmp_path / "ct")
    with caplog.at_level(logging.WARNING, logger="medue.io.dicom.series"):
        volume = read_volume(tmp_path / "ct")
    assert volume.shape == (4, 16, 16) and volume.modality == "CT"
    assert volume.metadata["skipped"] == SKIPPED
    assert all(entry in caplog.text for entry in SKIPPED)
    assert "README" not in caplog.text and "DICOMDIR" not in caplog.text
    out = write_volume(volume, tmp_path / "protected")
    assert sorted(p.name for p in out.iterdir()) == [f"slice_00{k}.dcm" for k in range(1, 5)]


def test_gdcm_lister_chokes_where_medue_lists(tmp_path):
    """What the tester saw: GDCM's series lister on such a folder; MedUE lists it regardless."""
    ct_with_rt_objects(tmp_path / "ct")
    try:
        ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(tmp_path / "ct"))
    except RuntimeError:
        ids = ()
    assert len(ids) != 1  # GDCM sees no series or several (dose, struct...), never just the CT
    assert read_volume(tmp_path / "ct").metadata["SeriesInstanceUID"]


def test_dataset_with_a_ct_series_and_an_rt_dose_lists_the_series(tmp_path):
    study = Study()
    ct_series(tmp_path / "patient1_ct", ramp(), study=study)
    rt_dose(tmp_path / "patient1_ct" / "RD.dcm", study)
    (tmp_path / "patient1_rtstruct").mkdir()
    non_image(tmp_path / "patient1_rtstruct" / "RS.dcm", study, RT_STRUCT_STORAGE, "RTSTRUCT")
    (tmp_path / "dose_only").mkdir()
    rt_dose(tmp_path / "dose_only" / "RD.dcm", study)
    rt_dose(tmp_path / "RD_loose.dcm", study)  # a stray dose file in the dataset folder itself
    cases = {c.image_id: c for c in discover_cases(tmp_path)}
    assert sorted(cases) == ["dose_only", "patient1_ct", "patient1_rtstruct"]
    assert not looks_like_dicom_folder(tmp_path)  # so `medue info` treats it as a dataset
    assert read_volume(cases["patient1_ct"].image).metadata["skipped"] == [
        "RD.dcm: RT Dose Storage"
    ]
    for left_out in ("dose_only", "patient1_rtstruct"):  # named as left out, not failed
        with pytest.raises(NotAnImage, match="holds no image to protect, only RD.dcm|RS.dcm"):
            read_volume(cases[left_out].image)


def test_labels_in_labels_final_are_found_for_dicom_cases(tmp_path):
    ct_series(tmp_path / "lung_ct", ramp())
    ct_series(tmp_path / "other_ct", ramp())
    box = (slice(1, 3), slice(4, 9), slice(4, 9))
    label_on_grid(tmp_path / "lung_ct", tmp_path / "labels/final/lung_ct.nrrd", box)
    cases = {c.image_id: c for c in discover_cases(tmp_path)}
    assert cases["lung_ct"].label == tmp_path / "labels/final/lung_ct.nrrd"
    assert cases["other_ct"].label is None
    loaded = load_case(cases["lung_ct"], require_label=True)
    assert loaded.label.sum() == 50


def test_two_series_in_one_folder_are_refused_naming_them(tmp_path):
    study = Study()
    ct_series(tmp_path / "mixed", ramp(), study=study)
    ct_series(tmp_path / "other", ramp(), study=study, edit=describe("bone"))
    for path in (tmp_path / "other").iterdir():
        path.rename(tmp_path / "mixed" / f"b_{path.name}")
    with pytest.raises(
        InputError,
        match=r"mixed: holds 2 DICOM series \(.*'bone' \(UID .*\): 4 files, e.g. b_slice_001.dcm",
    ):
        read_volume(tmp_path / "mixed")


def describe(text: str):
    def edit(ds, k):
        ds.SeriesDescription, ds.SeriesNumber = text, 2

    return edit


def test_folders_without_images_never_raise(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README").write_text("nothing here")
    (tmp_path / "notes" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    (tmp_path / "empty").mkdir()
    for folder in ("notes", "empty", "missing"):
        assert not is_dicom_folder(tmp_path / folder)
    assert not looks_like_dicom_folder(tmp_path / "notes")
    with pytest.raises(InputError, match="notes: no readable DICOM series"):
        read_volume(tmp_path / "notes")


def test_a_damaged_file_alone_is_reported_beside_nothing(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\1" * 64)
    assert looks_like_dicom_folder(tmp_path / "broken")
    with pytest.raises(InputError, match=r"broken: no readable DICOM series .*a\.dcm"):
        read_volume(tmp_path / "broken")


def test_files_without_the_part10_preamble_are_read(tmp_path):
    paths = ct_series(tmp_path / "old", ramp())
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.preamble, ds.file_meta = None, pydicom.dataset.FileMetaDataset()
        ds.is_implicit_VR, ds.is_little_endian = True, True
        pydicom.dcmwrite(str(path.with_suffix("")), ds, write_like_original=True)
        path.unlink()
    first = sorted((tmp_path / "old").iterdir())[0]
    assert first.read_bytes()[128:132] != b"DICM"
    volume = read_volume(tmp_path / "old")
    assert volume.shape == (4, 16, 16)
    np.testing.assert_array_equal(volume.array, ramp() - 1024)
    out = write_volume(volume, tmp_path / "protected")
    written = pydicom.dcmread(sorted(out.iterdir())[0])
    assert written.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert written.file_meta.MediaStorageSOPClassUID == written.SOPClassUID


def test_builders_make_files_pydicom_and_gdcm_read(tmp_path):
    paths = ct_series(tmp_path / "ct", ramp())
    ds = pydicom.dcmread(paths[0])
    assert ds.pixel_array.shape == (16, 16) and ds.Modality == "CT"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "ct")))
    assert reader.Execute().GetSize() == (16, 16, 4)
    enhanced = enhanced_ct(tmp_path / "e.dcm", ramp(), [2, 0, 3, 1])
    assert pydicom.dcmread(enhanced).pixel_array.shape == (4, 16, 16)
    assert pydicom.dcmread(rt_dose(tmp_path / "dose.dcm", Study())).pixel_array.shape == (3, 8, 8)


def test_one_slice_series_takes_its_declared_slice_spacing(tmp_path):
    def declare(ds, _k):
        ds.SpacingBetweenSlices = "5"

    ct_series(tmp_path / "one", ramp(shape=(1, 16, 16)), edit=declare)
    assert read_volume(tmp_path / "one").geometry.spacing[2] == 5.0
    ct_series(tmp_path / "bare", ramp(shape=(1, 16, 16)))
    assert read_volume(tmp_path / "bare").geometry.spacing[2] == 1.0  # GDCM's default too


def test_an_earlier_derivation_description_is_kept_after_medues(tmp_path):
    def lossy(ds, _k):
        ds.DerivationDescription = "JPEG lossy 76:1"

    ct_series(tmp_path / "ct", ramp(), edit=lossy)
    out = write_volume(read_volume(tmp_path / "ct"), tmp_path / "out", derivation="test")
    for path in out.iterdir():
        text = pydicom.dcmread(path).DerivationDescription
        assert text.startswith("MedUE") and text.endswith("; source: JPEG lossy 76:1")
