"""``medue protect`` on a classification dataset with the default method, ``pattern-presence``, as
a user runs it: the reference class byte-identical, every other class +-epsilon stripes."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medue.methods.patterns import checkerboard
from tests.test_cli_salm import medue

SHAPE = (28, 28)


def uint8_dataset(folder: Path, classes: tuple[str, ...], per_class: int = 2) -> Path:
    """2D uint8 images (values 20..230, so +-2 is never clipped) listed in ``labels.csv``."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    rows = ["image,label"]
    for name in classes:
        for i in range(per_class):
            image = rng.integers(20, 231, SHAPE).astype(np.uint8)
            nib.save(nib.Nifti1Image(image, np.eye(4)), folder / f"{name}_{i}.nii.gz")
            rows.append(f"{name}_{i}.nii.gz,{name}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def change(data: Path, release: Path, name: str) -> np.ndarray:
    """Written minus original, (y, x) as MedUE reads them (SimpleITK's order), as integers."""
    before, after = (sitk.GetArrayFromImage(sitk.ReadImage(str(f / name))) for f in (data, release))
    assert after.dtype == np.uint8
    return after.astype(np.int64) - before.astype(np.int64)


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory) -> Path:
    return uint8_dataset(tmp_path_factory.mktemp("presence") / "data", ("a", "b", "c"))


def test_default_method_stripes_every_class_but_the_first(three_classes, tmp_path):
    made = medue("protect", three_classes, tmp_path / "out", "--epsilon", "2")
    assert made.returncode == 0, made.stderr
    manifest = json.loads((tmp_path / "out.private/manifest.json").read_text())
    assert manifest["settings"]["method"] == "pattern-presence"
    assert manifest["method"]["reference_class"] == "a"
    assert manifest["method"]["stripes"] == {"b": "rows", "c": "columns"}
    rows, columns = checkerboard(SHAPE, 2, 1), checkerboard(SHAPE, 2, 2)
    for i in range(2):
        name = f"a_{i}.nii.gz"
        assert not change(three_classes, tmp_path / "out", name).any()
        np.testing.assert_array_equal(change(three_classes, tmp_path / "out", f"b_{i}.nii.gz"),
                                      2 * rows)  # fmt: skip
        np.testing.assert_array_equal(change(three_classes, tmp_path / "out", f"c_{i}.nii.gz"),
                                      2 * columns)  # fmt: skip
    assert "b_0.nii.gz,b" in (tmp_path / "out/labels.csv").read_text()


def test_reference_class_option_and_the_balanced_preset(three_classes, tmp_path):
    made = medue("protect", three_classes, tmp_path / "out", "--reference-class", "c")
    assert made.returncode == 0, made.stderr
    manifest = json.loads((tmp_path / "out.private/manifest.json").read_text())
    assert manifest["method"]["stripes"] == {"a": "rows", "b": "columns"}
    assert not change(three_classes, tmp_path / "out", "c_0.nii.gz").any()
    delta = change(three_classes, tmp_path / "out", "a_0.nii.gz")
    epsilon = np.abs(delta).max()
    assert epsilon >= 1 and (np.sign(delta) == checkerboard(SHAPE, 2, 1)).all()
    case = next(c for c in manifest["cases"] if c["image_id"] == "a_0")
    assert case["epsilon_native"] >= epsilon and "noise SD" in case["budget_rule"]


def test_too_many_classes_are_refused_in_one_line(tmp_path):
    data = uint8_dataset(tmp_path / "data", ("a", "b", "c", "d", "e"), per_class=1)
    made = medue("protect", data, tmp_path / "out", "--epsilon", "2")
    assert made.returncode != 0 and "Traceback" not in made.stderr
    lines = made.stderr.strip().splitlines()
    assert len(lines) == 1 and "pattern-presence marks at most 4 classes" in lines[0], lines
    assert "has 5: a, b, c, d, e" in lines[0]
    assert not (tmp_path / "out.private").exists()  # refused before anything is made
    unknown = medue("protect", data, tmp_path / "o2", "--reference-class", "z")
    assert unknown.returncode != 0 and "--reference-class 'z' is not a class" in unknown.stderr


def test_the_server_defaults_to_presence_for_a_classification_folder(three_classes, tmp_path):
    from medue.server.service import ProtectService  # noqa: PLC0415 (the server's imports)

    assert ProtectService(three_classes, tmp_path / "export").default_method() == "pattern-presence"
    segmentation = tmp_path / "studies"
    segmentation.mkdir()
    assert ProtectService(segmentation, tmp_path / "e2").default_method() == "pattern-checker"
