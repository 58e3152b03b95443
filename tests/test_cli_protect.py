"""``medue fit`` / ``medue protect`` as a user runs them, including Ctrl-C in the middle."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib

from medue.io.atomic import TMP_PREFIX
from tests.layout import private
from tests.segmentation_suspects import bars_dataset

MEDUE = str(Path(sys.executable).parent / "medue")


def medue(*args) -> subprocess.CompletedProcess:
    command = [MEDUE, *map(str, args), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_fit_then_protect_with_the_saved_generator(two_cases: Path, tmp_path):
    generator = tmp_path / "gen.pt"
    fitted = medue("fit", two_cases, generator, "--method", "umed", "--iterations", "2")
    assert fitted.returncode == 0, fitted.stderr
    assert generator.is_file() and "saved umed generator (2d)" in fitted.stdout
    assert "fit: 2 steps in " in fitted.stdout and "; maximum: ran all 2 steps" in fitted.stdout
    result = medue("protect", two_cases, tmp_path / "out", "--generator", generator)
    assert result.returncode == 0, result.stderr
    assert "protected 2 images" in result.stdout
    manifest = json.loads((tmp_path / "out.private/manifest.json").read_text())
    assert manifest["method"]["config"]["iterations"] == 2  # the generator's, not refitted
    assert manifest["method"]["config"]["class_values"] == [1]


def test_robust_preset_trains_umed_against_countermeasures(two_cases: Path, tmp_path):
    out = tmp_path / "out"
    result = medue(
        "protect", two_cases, out, "--preset", "robust", "--method", "umed", "--iterations", "2"
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((private(out) / "manifest.json").read_text())
    assert manifest["settings"]["budget"]["preset"] == "robust"
    assert manifest["method"]["history"]["steps"] == 2  # how many steps ran, and why no more
    assert manifest["method"]["history"]["stopped"].startswith("maximum: ")
    assert "fit: 2 steps in " in result.stdout
    assert "median_blur" in manifest["method"]["config"]["robust"]
    refused = medue("protect", two_cases, out / "o", "--preset", "robust", "--method", "random")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "the robust preset is for UMed and the patterns" in refused.stderr


def test_bad_parameters_give_one_line(two_cases: Path, tmp_path):
    for args, message in [
        (("--epsilon", "-1"), "--epsilon must be a positive number"),
        (("--labels", "a,b"), "--labels expects comma-separated integers"),
        (("--iterations", "0"), "--iterations must be at least 1"),
        (("--labels", "7"), "no voxels with the ROI label values [7]"),
    ]:
        result = medue("protect", two_cases, tmp_path / "o", *args)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert message in result.stderr, result.stderr
    result = medue("protect", two_cases, tmp_path / "o", "--generator", tmp_path / "none.pt")
    assert "generator file does not exist" in result.stderr


def _default_sigint() -> None:
    """A shell's background job (``cmd &``, e.g. a CI runner) ignores SIGINT, and a Python child
    started that way never installs its KeyboardInterrupt handler: restore the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_leaves_no_partial_output(two_cases: Path, tmp_path):
    output = tmp_path / "out"
    command = [MEDUE, "protect", str(two_cases), str(output), "--method", "umed"]
    command += ["--iterations", "100000"]  # a long UMed fit: the default pattern needs none
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip
    time.sleep(20)  # past start-up (imports ~8 s) and reading: inside the training loop
    assert process.poll() is None, "finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=180)  # a loaded 2-core machine is slow to unwind
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not list(output.rglob(f"{TMP_PREFIX}*")) if output.exists() else True
    assert not list(output.rglob("*.nii.gz")) if output.exists() else True


def test_a_decathlon_folder_is_a_segmentation_dataset_not_two_classes(tmp_path):
    """imagesTr/ + labelsTr/ are the images and their label maps: the default release changes
    the images on their structures and copies the label maps as they are."""
    pairs = bars_dataset(tmp_path / "pairs", 3, seed=0)
    data = tmp_path / "decathlon"
    (data / "imagesTr").mkdir(parents=True)
    (data / "labelsTr").mkdir()
    for image in sorted(pairs.glob("*_image.nii.gz")):
        case = image.name.removesuffix("_image.nii.gz")
        (data / "imagesTr" / f"{case}_0000.nii.gz").write_bytes(image.read_bytes())
        (data / "labelsTr" / f"{case}.nii.gz").write_bytes(
            (pairs / f"{case}_label.nii.gz").read_bytes()
        )
    result = medue("protect", data, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "protected 3 images" in result.stdout
    manifest = json.loads((private(tmp_path / "out") / "manifest.json").read_text())
    assert manifest["method"]["method"] == "pattern-checker"  # the segmentation default
    for case in ("c00", "c01", "c02"):
        label = (data / "labelsTr" / f"{case}.nii.gz").read_bytes()
        assert (tmp_path / "out/labelsTr" / f"{case}.nii.gz").read_bytes() == label
        before = nib.load(data / "imagesTr" / f"{case}_0000.nii.gz").get_fdata()
        after = nib.load(tmp_path / "out/imagesTr" / f"{case}_0000.nii.gz").get_fdata()
        roi = nib.load(data / "labelsTr" / f"{case}.nii.gz").get_fdata() > 0
        assert (after != before)[roi].any() and not (after != before)[~roi].any()
