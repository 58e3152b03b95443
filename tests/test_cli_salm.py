"""``medue protect --method salm`` and ``medue evaluate`` on a classification dataset, as a user
runs them: bad rows named, the good images protected, the release evaluated by victims."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from tests.methods.test_salm import write_dataset

MEDUE = str(Path(sys.executable).parent / "medue")


def medue(*args) -> subprocess.CompletedProcess:
    command = [MEDUE, *map(str, args), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def csv_dataset(folder: Path) -> Path:
    """The class-folder dataset listed in a CSV, plus three bad rows and one unreadable file."""
    write_dataset(folder, per_class=4)
    rows = ["image,label"]
    rows += [f"{p.relative_to(folder).as_posix()},{p.parent.name}"
             for p in sorted(folder.glob("*/*.nii.gz"))]  # fmt: skip
    (folder / "broken.nii.gz").write_bytes(b"not a nifti file")
    rows += ["missing/gone.nii.gz,left", "left/s0_00.nii.gz,left", "middle/s0_01.nii.gz,2.5",
             "broken.nii.gz,right"]  # fmt: skip
    rows.remove("middle/s0_01.nii.gz,middle")
    (folder / "dataset.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_protect_names_each_bad_row_and_protects_the_rest(tmp_path):
    data = csv_dataset(tmp_path / "data")
    result = medue("protect", data, tmp_path / "out", "--method", "salm", "--iterations", "1",
                   "--top-k", "0.05")  # fmt: skip
    assert result.returncode == 1, result.stderr  # some images failed, the others were protected
    assert "Traceback" not in result.stderr
    for words in ("gone.nii.gz", "does not exist", "repeats the image of row 2",
                  "'2.5' is neither", "broken.nii.gz"):  # fmt: skip
        assert words in result.stderr, words
    assert "protected 11 images" in result.stdout
    manifest = json.loads((tmp_path / "out.private/manifest.json").read_text())
    assert len(manifest["cases"]) == 11 and len(manifest["failed"]) == 4
    table = (tmp_path / "out/labels.csv").read_text().splitlines()
    assert len(table) == 12 and "right/s0_03.nii.gz,right" in table
    assert not (tmp_path / "out/broken.nii.gz").exists()


def test_evaluate_trains_victims_on_a_salm_release_and_tests_on_clean_images(tmp_path):
    data = write_dataset(tmp_path / "data", per_class=6)
    test = write_dataset(tmp_path / "test", per_class=2, seed=9)
    release = tmp_path / "release"
    made = medue("protect", data, release, "--method", "salm", "--iterations", "1")
    assert made.returncode == 0, made.stderr
    result = medue("evaluate", data, release, tmp_path / "eval", "--test", test,
                   "--victims", "resnet18", "--seeds", "0", "--epochs", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "eval/results.json").read_text())
    assert results["classes"] == ["left", "middle", "right"] and results["test_images"] == 6
    (row,) = results["rows"]
    assert row["victim"] == "resnet18" and row["chance"] == 1 / 3
    for side in ("clean", "protected"):
        assert row[side]["seeds"] == 1 and 0 <= row[side]["best_accuracy"][0] <= 1
    assert "protected acc, release-only attacker" in result.stdout
    wrong = medue("evaluate", data, release, tmp_path / "e2", "--victims", "unet")
    assert wrong.returncode != 0 and "classification victims are" in wrong.stderr


def test_a_release_image_differs_from_its_original_in_exactly_k_voxels(tmp_path):
    data = write_dataset(tmp_path / "data", per_class=3)
    made = medue("protect", data, tmp_path / "out", "--method", "salm-random", "--top-k", "0.2")
    assert made.returncode == 0, made.stderr
    before = nib.load(data / "left/s0_00.nii.gz").get_fdata()
    after = nib.load(tmp_path / "out/left/s0_00.nii.gz").get_fdata()
    assert np.count_nonzero(before != after) == round(0.2 * 32 * 32)


def test_a_classification_dataset_with_a_segmentation_method_gets_a_hint(tmp_path):
    data = write_dataset(tmp_path / "d", per_class=2)
    made = medue("protect", data, tmp_path / "out", "--method", "pattern-checker")
    assert made.returncode == 2 and "add --method pattern-presence" in made.stderr
    assert "Traceback" not in made.stderr
    made = medue("protect", data, tmp_path / "out", "--top-k", "0.1")  # the default: presence
    assert made.returncode == 2 and "--top-k is for SALM" in made.stderr
