"""``medue verify PRIVATE MODEL --images CLEAN`` as a data owner runs it, on real files: a keyed
release made by ``medue protect``, suspects saved as TorchScript files and state dicts."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from medue.keys import read_key_file, write_key_file
from medue.methods.plaid import plaid
from tests.keyed_server import Template
from tests.test_cli_presence import change, uint8_dataset
from tests.test_cli_salm import medue


def in_process(capsys, *args) -> tuple[int, str, str]:
    """``medue ARGS`` run in this process (the CLI's own entry point): exit code, stdout, stderr.
    For the refusals, which end before any heavy work: no interpreter start per case."""
    from medue.cli import main

    code = main([*map(str, args), "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _save(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(private folder, clean probe folder, work folder) of a keyed presence release, made with a
    fixed key so that every run tests the same plaid and decoys (deterministic)."""
    work = tmp_path_factory.mktemp("verify")
    data = uint8_dataset(work / "data", ("normal", "pneumonia"), per_class=2)
    key = write_key_file(work / "fixed.key", hashlib.sha256(b"medue verify tests").digest())
    made = medue("protect", data, work / "release", "--method", "pattern-presence-keyed",
                 "--epsilon", "4", "--key-file", key)  # fmt: skip
    assert made.returncode == 0, made.stderr
    probes = uint8_dataset(work / "held_out", ("normal", "pneumonia"), per_class=3)
    return work / "release.private", probes, work


def test_the_keyed_release_writes_the_keys_plaid_on_the_marked_class_only(keyed):
    private, _, work = keyed
    key = read_key_file(private / "key")
    expected = np.rint(4 * plaid(key, "presence/plaid/0", (28, 28))).astype(np.int64)
    for i in range(2):
        assert not change(work / "data", work / "release", f"normal_{i}.nii.gz").any()
        delta = change(work / "data", work / "release", f"pneumonia_{i}.nii.gz")
        np.testing.assert_array_equal(delta, expected)
    manifest = json.loads((private / "manifest.json").read_text())
    assert manifest["method"]["plaids"] == {"pneumonia": "keyed plaid"}
    public = (work / "release/release.json").read_text()
    assert key.hex() not in public and "plaid/" not in public


def test_a_model_that_learned_the_keys_plaid_is_detected(keyed):
    private, probes, work = keyed
    key = read_key_file(private / "key")
    suspect = _save(Template(plaid(key, "presence/plaid/0", (28, 28))), work / "trained.pt")
    made = medue("verify", private, suspect, "--images", probes, "--decoys", "99")
    assert made.returncode == 0, made.stderr
    assert "trained.pt: detected" in made.stdout and "p = 0.01 " in made.stdout
    (folder,) = (private / "verify").glob("trained-*")  # the name, then the file's sha256
    report = json.loads((folder / "verify.json").read_text())
    assert report["suspect_sha256"] == hashlib.sha256(suspect.read_bytes()).hexdigest()
    assert folder.name == f"trained-{report['suspect_sha256'][:8]}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # the private record stays owner-only
    assert stat.S_IMODE((folder / "verify.json").stat().st_mode) == 0o600
    assert report["detected"] and report["p_value"] == pytest.approx(0.01)
    assert report["probes"] == 3  # the held-out folder's reference class only
    assert report["classes"]["pneumonia"]["effect"] > 3
    assert report["key_commitment"] == json.loads((work / "release/release.json").read_text())[
        "key_commitment"]["value"]  # fmt: skip
    html = (folder / "verify.html").read_text()
    assert "How the test works" in html and "responses_pneumonia.png" in html
    assert (folder / "probe_pneumonia.png").stat().st_size > 0


def test_a_model_of_another_key_or_of_nothing_is_not_detected(keyed, tmp_path):
    private, probes, work = keyed
    other = _save(Template(np.zeros((28, 28))), tmp_path / "blind.pt")
    made = medue("verify", private, other, "--images", probes, "--decoys", "19",
                 "--out", tmp_path / "report")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "blind.pt: not detected (p = 1 > 0.01)" in made.stdout
    assert not json.loads((tmp_path / "report/verify.json").read_text())["detected"]


def test_a_state_dict_with_its_architecture_runs(keyed, tmp_path):
    from medue.networks.classifier import build_classifier

    private, probes, _ = keyed
    torch.manual_seed(0)
    torch.save(build_classifier("resnet18", 2, 2).state_dict(), tmp_path / "resnet.pt")
    made = medue("verify", private, tmp_path / "resnet.pt", "--images", probes,
                 "--arch", "resnet18", "--decoys", "19")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "resnet.pt: " in made.stdout and "detected" in made.stdout


CORRUPT = "is not a TorchScript model or a PyTorch state dict"
WRONG_SHAPE = "does not take images shaped (N, 1, 28, 28)"
NO_ARCH = "state dict, not a TorchScript model"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_bytes(b"not a model at all"), CORRUPT),
        (lambda p: p.write_text("hello"), CORRUPT),  # torch's unpickler: KeyError
        (lambda p: _save(Template(np.zeros((64, 64))), p), WRONG_SHAPE),
        (lambda p: torch.save(torch.nn.Linear(2, 2).state_dict(), p), NO_ARCH),
    ],
)
def test_a_bad_model_gets_one_line_naming_it(keyed, tmp_path, capsys, make, expected):
    private, probes, _ = keyed
    model = tmp_path / "suspect.pt"
    make(model)
    code, _, err = in_process(
        capsys, "verify", private, model, "--images", probes, "--decoys", "19"
    )
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()]
    assert str(model) in err and expected in err


def test_the_release_folder_in_place_of_the_private_one_is_refused_with_the_fix(keyed, capsys):
    _, probes, work = keyed
    code, _, err = in_process(capsys, "verify", work / "release", work / "x.pt", "--images", probes)
    assert code == 2 and "is the published release" in err and "release.private" in err


def test_a_release_whose_pattern_is_the_same_for_every_key_is_refused(tmp_path, capsys):
    data = uint8_dataset(tmp_path / "data", ("a", "b"), per_class=1)
    assert in_process(capsys, "protect", data, tmp_path / "out", "--epsilon", "2")[0] == 0
    code, _, err = in_process(capsys, "verify", tmp_path / "out.private", tmp_path / "none.pt",
                              "--images", data)  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert "same for every key" in err and "pattern-presence-keyed" in err


def _answer(model: torch.nn.Module, probes: Path, csv_path: Path, names: tuple[str, str]) -> None:
    """What the suspect's owner sends back: the model's class scores for every probe file."""
    import SimpleITK as sitk

    rows = ["image," + ",".join(names)]
    for line in (probes / "probes.csv").read_text().splitlines()[1:]:
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(probes / line))).astype(np.float32)
        scores = model(torch.from_numpy(image.reshape(1, 1, 28, 28)))[0].tolist()
        rows.append(f"{line},{scores[0]},{scores[1]}")
    csv_path.write_text("\n".join(rows) + "\n")


def test_black_box_probes_then_scores_detect_the_trained_model(keyed, tmp_path, capsys):
    private, held_out, _ = keyed
    made = medue("verify", "probes", private, tmp_path / "probes", "--images", held_out,
                 "--decoys", "99")  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = (tmp_path / "probes/probes.csv").read_text().splitlines()
    assert listed[0] == "image" and len(listed) == 1 + 3 * (1 + 100)  # clean + key + 99 decoys
    (sheet,) = (private / "verify/probes").glob("*.json")  # named by the batch's random id
    assert listed[1].startswith(f"probe_{sheet.stem}_")
    assert not list((tmp_path / "probes").glob("*.json"))  # answers stay private
    assert "`normal`, `pneumonia`" in (tmp_path / "probes/README.txt").read_text()
    key = read_key_file(private / "key")
    trained = Template(plaid(key, "presence/plaid/0", (28, 28)))
    _answer(trained, tmp_path / "probes", tmp_path / "answers.csv", ("normal", "pneumonia"))
    made = medue("verify", "score", private, tmp_path / "answers.csv", "--out", tmp_path / "r")
    assert made.returncode == 0, made.stderr
    assert "answers.csv: detected: " in made.stdout and "(p = 0.01 <= 0.01)" in made.stdout
    blind = Template(np.zeros((28, 28)))
    _answer(blind, tmp_path / "probes", tmp_path / "blind.csv", ("normal", "pneumonia"))
    code, out, _ = in_process(
        capsys, "verify", "score", private, tmp_path / "blind.csv", "--out", tmp_path / "b"
    )
    assert code == 0 and "blind.csv: not detected (p = 1 " in out
    lines = (tmp_path / "answers.csv").read_text().splitlines()
    (tmp_path / "short.csv").write_text("\n".join(lines[:-2]) + "\nstray.nii.gz,0,1\n")
    code, _, err = in_process(capsys, "verify", "score", private, tmp_path / "short.csv")
    assert code == 2 and "Traceback" not in err
    assert f"does not match probe batch {sheet.stem} (303 files)" in err
    assert "2 probe files missing" in err and "1 other file (e.g. stray.nii.gz)" in err
