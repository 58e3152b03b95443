"""DICOM series round trip: a zero perturbation writes back bit-exact as a new derived series."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from medue.errors import InputError
from medue.io import read_volume, write_volume


def folder_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_zero_perturbation_round_trip_is_bit_exact(sample_dicom_series: Path, tmp_path):
    before = folder_hashes(sample_dicom_series)
    volume = read_volume(sample_dicom_series)
    assert volume.modality == "CT" and volume.format == "dicom"
    out = write_volume(volume, tmp_path / "protected", derivation="zero perturbation test")

    original, written = sitk_series(sample_dicom_series), sitk_series(out)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(original))
    assert written.GetOrigin() == pytest.approx(original.GetOrigin(), abs=1e-6)
    assert written.GetSpacing() == pytest.approx(original.GetSpacing(), abs=1e-6)
    assert written.GetDirection() == pytest.approx(original.GetDirection(), abs=1e-6)
    np.testing.assert_array_equal(read_volume(out).array, volume.array)
    assert folder_hashes(sample_dicom_series) == before


def test_output_is_a_new_derived_series_with_all_other_tags_kept(sample_dicom_series, tmp_path):
    volume = read_volume(sample_dicom_series)
    out = write_volume(volume, tmp_path / "protected", derivation="UMed, eps 6 HU")
    sources = {Path(f).name: pydicom.dcmread(f) for f in volume.metadata["files"]}
    written = {p.name: pydicom.dcmread(p) for p in out.iterdir()}
    assert written.keys() == sources.keys()
    assert len({ds.SeriesInstanceUID for ds in written.values()}) == 1
    changed = {"SeriesInstanceUID", "SOPInstanceUID", "ImageType", "DerivationDescription"}
    for name, ds in written.items():
        src = sources[name]
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID
        assert ds.SOPInstanceUID != src.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert list(ds.ImageType[:2]) == ["DERIVED", "SECONDARY"]
        assert ds.DerivationDescription.startswith("MedUE") and "UMed" in ds.DerivationDescription
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        for element in src:
            if element.keyword not in changed:
                assert ds[element.tag].value == element.value, element.keyword


def test_perturbation_lands_in_the_written_series(sample_dicom_series, tmp_path):
    volume = read_volume(sample_dicom_series)
    change = np.zeros(volume.shape, np.int32)
    change[10, 100:110, 100:110] = 5
    out = write_volume(volume.with_array(volume.array + change), tmp_path / "p", derivation="t")
    diff = read_volume(out).array.astype(np.int64) - volume.array
    np.testing.assert_array_equal(diff, change)


def test_refuses_to_write_over_the_source(sample_dicom_series, tmp_path):
    copy = tmp_path / "series"
    shutil.copytree(sample_dicom_series, copy)
    volume = read_volume(copy)
    with pytest.raises(InputError, match="refusing to write over"):
        write_volume(volume, copy)


def test_unreadable_dicom_folder(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    for i in range(3):
        (folder / f"slice_{i}.dcm").write_bytes(b"DICM garbage" * 10)
    with pytest.raises(InputError, match="broken: no readable DICOM series"):
        read_volume(folder)
