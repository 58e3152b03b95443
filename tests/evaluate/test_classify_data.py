"""benchmarks/classify_data.py: two classification folders, split by blocks, in source dtypes."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medue.class_datasets import class_names, discover_classified
from tests.conftest import load_script

SCRIPT = "benchmarks/classify_data.py"

# The FSL MNI152 template ships inside the nimare wheel, a benchmark-only data package that the
# set-up does not install (its own dependencies are heavy; the README says how to add it).
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nimare") is None,
    reason="benchmark data package nimare is not installed (pip install --no-deps nimare==0.22.1)",
)


@pytest.fixture(scope="module")
def built(sample_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classify")
    assert load_script(SCRIPT).main(["--out", str(out)]) == 0
    return out


def rows(folder: Path) -> list[tuple[str, str]]:
    with open(folder / "labels.csv", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["image", "label"]
        return [(image, label) for image, label in reader]


def z_of(name: str) -> int:
    """The slice position in a file name: ``fsl6_z-040.nii.gz`` -> -40, ``lung1_z07`` -> 7."""
    return int(name.removesuffix(".nii.gz").rsplit("_z", 1)[1])


@pytest.mark.parametrize(
    ("task", "counts"),
    [
        ("brain-level", {"train": 224, "test": 64}),
        ("body-region", {"train": 122, "test": 56}),
    ],
)
def test_folders_list_every_slice_once_with_its_class(built: Path, task: str, counts) -> None:
    for split, count in counts.items():
        folder = built / task / split
        listed = rows(folder)
        assert len(listed) == count == len({image for image, _ in listed})
        assert sorted(p.name for p in folder.glob("*.nii.gz")) == sorted(i for i, _ in listed)
        cases = discover_classified(folder)
        assert not [case for case in cases if case.problem]
        assert len(class_names(cases)) == (4 if task == "brain-level" else 3)


def test_brain_level_split_is_by_z_blocks_away_from_class_boundaries(built: Path) -> None:
    builder = load_script(SCRIPT)
    sides = {split: rows(built / "brain-level" / split) for split in ("train", "test")}
    test_z = {z_of(image) for image, _ in sides["test"]}
    train_z = {z_of(image) for image, _ in sides["train"]}
    assert not test_z & train_z  # both templates put one z on the same side
    boundaries = [start for _, start in builder.LEVELS[1:]]
    assert min(abs(z - b + 0.5) for z in test_z for b in boundaries) >= 8
    assert Counter(label for _, label in sides["test"]) == dict.fromkeys(
        [name for name, _ in builder.LEVELS], 16
    )
    for image, label in sides["train"][:5] + sides["test"][:5]:
        assert builder.level_of(z_of(image)) == label


@pytest.mark.parametrize(
    ("name", "dtype"), [("icbm2009_z+020", np.uint8), ("fsl6_z-044", np.int16)]
)
def test_brain_level_slices_keep_the_template_dtype(built: Path, name: str, dtype) -> None:
    image = sitk.ReadImage(str(built / "brain-level" / "test" / f"{name}.nii.gz"))
    array = sitk.GetArrayFromImage(image)
    assert array.dtype == dtype and array.shape == (64, 64)
    assert image.GetSpacing() == (3.0, 3.0) and array.max() > 0


def test_body_region_slices_are_block_means_of_the_source(
    built: Path, sample_dataset: Path
) -> None:
    for case, factor, shape in (("lung1", 8, (64, 64)), ("breast1", 2, (60, 23))):
        source = sitk.ReadImage(str(sample_dataset / f"{case}.nii.gz"))
        volume = sitk.GetArrayFromImage(source)
        sides = {
            split: {z_of(i) for i, _ in rows(built / "body-region" / split) if i.startswith(case)}
            for split in ("train", "test")
        }
        assert not sides["train"] & sides["test"]
        assert sides["train"] | sides["test"] == set(range(volume.shape[0]))
        z = min(sides["test"])
        image = sitk.ReadImage(str(built / "body-region" / "test" / f"{case}_z{z:02d}.nii.gz"))
        array = sitk.GetArrayFromImage(image)
        assert array.dtype == volume.dtype == np.int16 and array.shape == shape
        block = volume[z, :factor, :factor].astype(np.float64).mean()
        assert array[0, 0] == np.round(block)
        assert image.GetSpacing() == pytest.approx(np.array(source.GetSpacing()[:2]) * factor)
        centre = source.TransformContinuousIndexToPhysicalPoint(((factor - 1) / 2,) * 2 + (z,))
        assert image.GetOrigin() == pytest.approx(centre[:2])


def test_rebuild_is_a_no_op(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = built / "body-region" / "train" / "labels.csv"
    before = file.stat().st_mtime_ns
    assert load_script(SCRIPT).main(["--out", str(built)]) == 0
    assert capsys.readouterr().out.count("up to date") == 2
    assert file.stat().st_mtime_ns == before
