"""``medue verify`` on a segmentation release, as a data owner runs it on real files: the default
release (the checkerboard on the structures) made by ``medue protect``, clean reference models
measured once with ``medue verify references``, suspects as TorchScript files, and the black-box
round trip through probe files and label maps (``tests/segmentation_suspects.py``)."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from medue.io import read_volume, write_volume
from medue.keys import write_key_file
from medue.verify.suspect import load_suspect, scores
from tests.segmentation_suspects import (
    CheckerDetector,
    Threshold,
    bars_dataset,
    references,
    save_scripted,
)
from tests.test_cli_salm import medue
from tests.verify.test_bundle import write_bundle
from tests.verify.test_cli_verify import in_process


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, Path]:
    """(private folder, work folder): a default release of 6 images (a fixed key: the same
    amplitude steps every run), calibrated with 99 clean reference models on 4 held-out images."""
    work = tmp_path_factory.mktemp("verify_segmentation")
    data = bars_dataset(work / "data", 6, seed=0)
    key = write_key_file(work / "fixed.key", hashlib.sha256(b"medue segmentation tests").digest())
    made = medue("protect", data, work / "release", "--key-file", key)  # deterministic
    assert made.returncode == 0, made.stderr
    private = work / "release.private"
    uncalibrated = medue("verify", private, save_scripted(CheckerDetector(), work / "early.pt"))
    assert uncalibrated.returncode == 2 and "has no reference models yet" in uncalibrated.stderr
    held = bars_dataset(work / "held_out", 4, seed=1)
    references(work / "refs")  # a folder stands for its model files
    done = medue("verify", "references", private, work / "refs", "--images", held)
    assert done.returncode == 0, done.stderr
    assert "measured 99 reference models on 4 probe images" in done.stdout
    return private, work


def test_a_model_that_learned_the_pattern_is_detected_and_a_clean_one_is_not(calibrated):
    private, work = calibrated
    trained = medue("verify", private, save_scripted(CheckerDetector(), work / "trained.pt"))
    assert trained.returncode == 0, trained.stderr
    assert "trained.pt: detected" in trained.stdout and "99 reference models" in trained.stdout
    (folder,) = (private / "verify").glob("trained-*")
    report = json.loads((folder / "verify.json").read_text())
    assert report["detected"] and report["p_value"] == pytest.approx(0.01)
    assert report["ranked_against"] == "clean reference models"
    assert report["classes"]["foreground"]["key_response"] > 0.2  # refs: 0
    assert "reference models trained on the clean originals" in (folder / "verify.html").read_text()
    assert (folder / "responses_segmentation.png").stat().st_size > 0
    clean = medue("verify", private, save_scripted(Threshold(137.0), work / "clean.pt"))
    assert clean.returncode == 0 and "clean.pt: not detected (p = 1 " in clean.stdout


def test_the_black_box_round_trip_detects_the_same_model(calibrated, tmp_path):
    private, work = calibrated
    written = medue("verify", "probes", private, tmp_path / "probes")
    assert written.returncode == 0, written.stderr
    files = sorted((tmp_path / "probes").glob("probe_*.nii.gz"))
    assert len(files) == 8 and "wrote 8 probe files" in written.stdout  # 4 clean, 4 marked
    assert not any(p.name.startswith("probe") for p in private.rglob("*.nii.gz"))
    model = load_suspect(save_scripted(CheckerDetector(), tmp_path / "m.pt"))
    archive = tmp_path / "maps.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for file in files:  # the suspect's owner: a label map per probe file, same name
            volume = read_volume(file)
            image = np.asarray(volume.array, np.float64).reshape(volume.array.shape[-2:])
            label = scores(model, image[None], file).argmax(axis=1)[0].astype(np.uint8)
            answer = tmp_path / "m.nii.gz"
            write_volume(volume.with_array(label.reshape(volume.array.shape)), answer)
            handle.write(answer, file.name)
    scored = medue("verify", "score", private, archive)
    assert scored.returncode == 0, scored.stderr
    assert "maps.zip: detected" in scored.stdout
    with zipfile.ZipFile(archive) as full, zipfile.ZipFile(tmp_path / "short.zip", "w") as short:
        for name in full.namelist()[1:]:
            short.writestr(name, full.read(name))
    missing = medue("verify", "score", private, tmp_path / "short.zip")
    assert missing.returncode == 2 and "1 probe maps missing" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    given_back = medue("verify", "score", private, tmp_path / "probes")  # the probes themselves
    assert given_back.returncode == 2 and "an image, not a label map" in given_back.stderr


def test_a_classifier_or_a_corrupt_file_gets_one_line(calibrated, capsys, tmp_path):
    private, _ = calibrated
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    code, _, err = in_process(capsys, "verify", private, broken)
    assert code == 2 and "broken.pt" in err and "Traceback" not in err
    from tests.keyed_server import Template

    classifier = save_scripted(Template(np.ones((48, 48))), tmp_path / "classifier.pt")
    code, _, err = in_process(capsys, "verify", private, classifier)
    assert code == 2 and "a segmenter returns per-voxel class scores" in err
    code, _, err = in_process(capsys, "verify", "references", private, broken, "--images", private)
    assert code == 2 and "give at least 19" in err
    refs = sorted((private.parent / "refs").glob("*.pt"))
    code, _, err = in_process(capsys, "verify", "references", private, *refs, "--images",
                              private.parent / "release")  # fmt: skip
    assert code == 2 and "holds only images of the release or its originals" in err


def test_a_monai_bundle_is_verified_through_its_own_preprocessing(calibrated, capsys, tmp_path):
    """A bundle folder whose config doubles the stored units before its network (the detector):
    ``medue verify`` runs the bundle's pre-processing and finds the pattern."""
    private, _ = calibrated
    double = {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": 0, "a_max": 100,
              "b_min": 0.0, "b_max": 200.0}  # fmt: skip
    detector = {"_target_": "tests.segmentation_suspects.CheckerDetector"}
    bundle = write_bundle(tmp_path / "suspect_bundle", detector, [double])
    code, out, err = in_process(capsys, "verify", private, bundle)
    assert code == 0, err
    assert "suspect_bundle: detected" in out
    (folder,) = (private / "verify").glob("suspect_bundle-*")
    assert json.loads((folder / "verify.json").read_text())["detected"]
    assert "warning" not in out


def test_a_suspect_that_is_one_of_the_references_is_named(calibrated, capsys):
    private, work = calibrated
    reference = sorted((work / "refs").glob("*.pt"))[3]
    code, out, err = in_process(capsys, "verify", private, reference, "--out", work / "self")
    assert code == 0, err
    assert f"the suspect is one of the reference models ({reference.name})" in out


def test_recalibrating_says_what_it_replaced(calibrated, capsys, tmp_path):
    private, work = calibrated
    copy = tmp_path / "release.private"
    shutil.copytree(private, copy)
    refs = sorted((work / "refs").glob("*.pt"))[:19]
    held = work / "held_out"
    code, out, err = in_process(capsys, "verify", "references", copy, *refs, "--images", held)
    assert code == 0, err
    assert ("replaced the earlier calibration (99 reference models on 4 probes) with this one "
            "(19 reference models on 4 probes)") in out  # fmt: skip
