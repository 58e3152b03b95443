"""``medue restore RELEASE PRIVATE OUT`` as the key holder runs it: every original back byte for
byte, in its format and place; a wrong key, a modified release or a bad target refused in one
line naming the file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.drive_like import drive_like
from tests.io.dicom_builders import Study, ct_series, label_on_grid, ramp, rt_dose
from tests.layout import private
from tests.methods.test_salm import write_dataset
from tests.server.running import tree_hashes as hashes  # every file's sha256

MEDUE = str(Path(sys.executable).parent / "medue")


def medue(*args) -> subprocess.CompletedProcess:
    quiet = ["--no-progress"] if args[0] == "protect" else []
    command = [MEDUE, *map(str, args), *quiet]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def protect_and_restore(data: Path, tmp_path: Path, *options) -> tuple[Path, Path]:
    """Protect ``data`` into ``tmp_path/out``, restore into ``tmp_path/back``; both checked."""
    out, back = tmp_path / "out", tmp_path / "back"
    protected = medue("protect", data, out, *options)
    assert protected.returncode == 0, protected.stderr
    restored = medue("restore", out, private(out), back)
    assert restored.returncode == 0, restored.stderr
    assert "byte-identical" in restored.stdout
    return out, back


def assert_all_back(data: Path, back: Path) -> None:
    """Every file of the dataset is back, byte for byte, at its place (and nothing else)."""
    assert hashes(back) == hashes(data)


def test_sample_data_comes_back_byte_identical(sample_dataset, tmp_path):
    data = tmp_path / "sample"
    shutil.copytree(sample_dataset, data)
    out, back = protect_and_restore(data, tmp_path)
    assert hashes(out) != hashes(data)
    assert_all_back(data, back)
    # SimpleITK wrote these .nii.gz: rebuilt by its own writer, not kept whole (33 MB)
    kept = sum(p.stat().st_size for p in (private(out) / "restore").rglob("*.zip"))
    assert kept < 1_000_000


def test_dicom_series_comes_back_with_its_uids(tmp_path):
    data = tmp_path / "studies"
    study = Study()
    ct_series(data / "patient_a", ramp(low=900), study=study)
    rt_dose(data / "patient_a" / "rtdose.dcm", study)  # not in the release: kept privately
    label_on_grid(data / "patient_a", data / "labels/final/patient_a.nii.gz")
    out, back = protect_and_restore(data, tmp_path)
    assert not (out / "patient_a/rtdose.dcm").exists()
    assert_all_back(data, back)


def test_drive_like_uint8_release_comes_back(tmp_path):
    data = drive_like(tmp_path / "eyes", cases=3)
    out, back = protect_and_restore(data, tmp_path)
    assert_all_back(data, back)


def test_nrrd_and_metaimage_come_back(tmp_path):
    data = tmp_path / "formats"
    (data / "labels/final").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, compress in (("a.nrrd", True), ("b.mha", True), ("c.mhd", False), ("d.nrrd", False)):
        array = rng.normal(100, 10, (3, 24, 24)).astype(np.int16)
        image = sitk.GetImageFromArray(array)
        sitk.WriteImage(image, str(data / name), useCompression=compress)
        label = np.zeros(array.shape, np.uint8)
        label[:, 6:18, 6:18] = 1
        stem = name.split(".")[0]
        sitk.WriteImage(sitk.GetImageFromArray(label), str(data / f"labels/final/{stem}.nii.gz"))
    out, back = protect_and_restore(data, tmp_path)
    assert_all_back(data, back)


def test_classification_release_comes_back(tmp_path):
    data = write_dataset(tmp_path / "classes", per_class=3)
    out, back = protect_and_restore(data, tmp_path, "--method", "salm-random",
                                    "--iterations", "1", "--top-k", "0.05")  # fmt: skip
    assert (out / "labels.csv").is_file()
    assert_all_back(data, back)


@pytest.fixture
def released(tmp_path) -> Path:
    out = tmp_path / "out"
    assert medue("protect", drive_like(tmp_path / "eyes", cases=2), out).returncode == 0
    return out


def one_line_naming(result: subprocess.CompletedProcess, path: Path) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], result.stderr


def test_a_wrong_key_is_refused(released, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("cd" * 32 + "\n")
    result = medue("restore", released, private(released), tmp_path / "back", "--key-file", wrong)
    one_line_naming(result, wrong)
    assert not (tmp_path / "back").exists()
    (private(released) / "key").chmod(0o600)
    shutil.copy(wrong, private(released) / "key")  # a private folder holding another key
    result = medue("restore", released, private(released), tmp_path / "back")
    one_line_naming(result, private(released) / "key")


def test_a_modified_release_file_is_refused(released, tmp_path):
    image = released / "eye1.nii.gz"
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF
    image.write_bytes(bytes(data))
    result = medue("restore", released, private(released), tmp_path / "back")
    one_line_naming(result, image)
    assert (tmp_path / "back/eye0.nii.gz").is_file()  # the other case is restored
    assert not (tmp_path / "back/eye1.nii.gz").exists()
    description = released / "release.json"
    readme = released / "RELEASE.md"
    text = description.read_text()
    description.write_text(text.replace("segmentation", "segmentatio"))
    result = medue("restore", released, private(released), tmp_path / "back2")
    one_line_naming(result, description)
    description.write_text(text)
    readme.write_text(readme.read_text() + "\nedited by someone else\n")
    result = medue("restore", released, private(released), tmp_path / "back3")
    one_line_naming(result, readme)


def test_an_unreadable_key_file_is_one_plain_line(released, tmp_path):
    raw = tmp_path / "raw.key"
    raw.write_bytes(bytes(range(200, 232)))  # 32 raw bytes, not the hex a key file holds
    for bad in (raw, tmp_path):
        result = medue("restore", released, private(released), tmp_path / "back", "--key-file", bad)
        one_line_naming(result, bad)
        assert "Error" not in result.stderr  # no Python exception names


def test_bad_targets_are_refused(released, tmp_path):
    inside = medue("restore", released, private(released), released / "back")
    one_line_naming(inside, released / "back")
    into_private = medue("restore", released, private(released), private(released) / "back")
    one_line_naming(into_private, private(released) / "back")
    back = tmp_path / "back"
    back.mkdir()
    (back / "eye0.nii.gz").write_bytes(b"the user's file")
    result = medue("restore", released, private(released), back)
    one_line_naming(result, back / "eye0.nii.gz")
    assert (back / "eye0.nii.gz").read_bytes() == b"the user's file"
    assert (back / "eye1.nii.gz").is_file()
