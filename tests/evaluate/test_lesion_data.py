"""benchmarks/lesion_data.py: each sample lesion split in z into train and test, geometry kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import load_script

CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


@pytest.fixture(scope="module")
def lesion_dir(sample_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lesion")
    assert load_script("benchmarks/lesion_data.py").main(["--out", str(out)]) == 0
    return out


def _read(path: Path) -> tuple[sitk.Image, np.ndarray]:
    image = sitk.ReadImage(str(path))
    return image, sitk.GetArrayFromImage(image)


@pytest.mark.parametrize("case", CASES)
def test_each_lesion_is_on_both_sides_at_disjoint_slices(
    lesion_dir: Path, sample_dataset: Path, case: str
) -> None:
    source, source_array = _read(sample_dataset / f"{case}.nii.gz")
    z_positions = {}
    for split in ("train", "test"):
        image, array = _read(lesion_dir / split / f"{case}.nii.gz")
        _, label = _read(lesion_dir / split / "labels" / "final" / f"{case}.nii.gz")
        assert label.shape == array.shape and label.any(), f"{split} {case} lacks the lesion"
        assert max(array.shape[1:]) <= 128
        assert image.GetSpacing() == source.GetSpacing()
        assert image.GetDirection() == source.GetDirection()
        # a voxel keeps its value at its physical place: the crop is a window, not a resample
        corner = image.TransformIndexToPhysicalPoint((0, 0, 0))
        x, y, z = source.TransformPhysicalPointToIndex(corner)
        depth, height, width = array.shape
        window = source_array[z : z + depth, y : y + height, x : x + width]
        np.testing.assert_array_equal(array, window)
        z_positions[split] = set(range(z, z + depth))
    assert not z_positions["train"] & z_positions["test"]


def test_rebuild_is_a_no_op(lesion_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (lesion_dir / "train" / "lung2.nii.gz").stat().st_mtime_ns
    assert load_script("benchmarks/lesion_data.py").main(["--out", str(lesion_dir)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (lesion_dir / "train" / "lung2.nii.gz").stat().st_mtime_ns == before
