"""``medue protect`` as a data owner runs it: a release safe to publish, a private folder with
the key (owner-only), a new key per run, and ``--key-file`` reproducing a release exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.drive_like import drive_like
from tests.layout import private
from tests.release_scan import leaks, owner_only_problems
from tests.server.running import tree_hashes as hashes  # every file's sha256

MEDUE = str(Path(sys.executable).parent / "medue")


def medue(*args) -> subprocess.CompletedProcess:
    command = [MEDUE, *map(str, args), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def eyes(tmp_path_factory) -> Path:
    return drive_like(tmp_path_factory.mktemp("eyes") / "eyes", cases=3)


@pytest.mark.parametrize("data", ["eyes", "two_cases"])
def test_default_release_reveals_nothing_and_private_is_owner_only(data, request, tmp_path):
    folder = request.getfixturevalue(data)
    out = tmp_path / "out"
    result = medue("protect", folder, out)
    assert result.returncode == 0, result.stderr
    assert f"release (publish this): {out}" in result.stdout
    assert (out / "release.json").is_file() and (out / "RELEASE.md").is_file()
    assert not (out / "medue").exists()
    assert sorted(p.name for p in private(out).iterdir()) == sorted(
        ["key", "generator.json", "manifest.json", "report.html", "figures", "restore",
         "journal.jsonl", "cases.jsonl"]
    )  # fmt: skip
    assert leaks(out, private(out)) == []
    assert owner_only_problems(private(out)) == []
    key = (private(out) / "key").read_text().strip()  # only the key file (and the perturber)
    assert key not in (private(out) / "manifest.json").read_text()


def test_a_run_that_protects_nothing_is_not_called_a_release(eyes, tmp_path):
    out = tmp_path / "out"
    result = medue("protect", eyes, out, "--epsilon", "0.4")  # below one grey level: refused
    assert result.returncode == 1
    assert f"nothing was protected: {out} is not a release (do not publish it)" in result.stdout
    assert "publish this" not in result.stdout and not (out / "release.json").exists()


def test_two_default_runs_differ_and_a_key_file_reproduces_a_release(eyes, tmp_path):
    first, second, again = tmp_path / "first", tmp_path / "second", tmp_path / "again"
    for out in (first, second):
        assert medue("protect", eyes, out).returncode == 0
    assert (private(first) / "key").read_bytes() != (private(second) / "key").read_bytes()
    one, two = hashes(first), hashes(second)
    assert one.keys() == two.keys()
    assert [n for n in one if n.endswith(".nii.gz") and one[n] != two[n]]  # images differ
    shared = tmp_path / "dataset.key"
    shared.write_bytes((private(first) / "key").read_bytes())
    result = medue("protect", eyes, again, "--key-file", shared, "--private", tmp_path / "mine")
    assert result.returncode == 0, result.stderr
    assert hashes(again) == one  # byte for byte, release.json and RELEASE.md included
    assert (tmp_path / "mine" / "key").read_bytes() == shared.read_bytes()


def test_private_folder_never_inside_the_release_and_keys_never_mixed(eyes, tmp_path):
    out = tmp_path / "out"
    inside = medue("protect", eyes, out, "--private", out / "secret")
    assert inside.returncode == 2 and "Traceback" not in inside.stderr
    assert "must be outside the release folder" in inside.stderr
    around = medue("protect", eyes, tmp_path / "p" / "out", "--private", tmp_path / "p")
    assert around.returncode == 2 and "must be outside the private folder" in around.stderr
    assert medue("protect", eyes, out).returncode == 0
    other = tmp_path / "other.key"
    other.write_text("ab" * 32 + "\n")
    mixed = medue("protect", eyes, out, "--key-file", other)
    assert mixed.returncode == 2 and "Traceback" not in mixed.stderr
    assert f"{other}: is not the key of this release" in mixed.stderr
    broken = tmp_path / "broken.key"
    broken.write_text("not a key")
    bad = medue("protect", eyes, tmp_path / "o2", "--key-file", broken)
    assert bad.returncode == 2 and f"{broken}: is not a MedUE key file" in bad.stderr
