"""The key layer: drawing, owner-only key files, the public commitment, per-purpose seeds; and
the keyed checkerboard built on them."""

from __future__ import annotations

import stat

import numpy as np
import pytest

from medue.errors import InputError
from medue.keys import (
    KEY_BYTES,
    commit,
    matches,
    new_key,
    read_key_file,
    seed_int,
    seed_sequence,
    write_key_file,
)
from medue.methods.patterns import checkerboard, pattern_perturber


def test_keys_are_fresh_and_files_owner_only(tmp_path):
    first, second = new_key(), new_key()
    assert len(first) == KEY_BYTES and first != second
    path = write_key_file(tmp_path / "key", first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == first
    with pytest.raises(InputError, match="never overwritten"):
        write_key_file(path, second)
    assert read_key_file(path) == first


@pytest.mark.parametrize("text", ["", "zz" * 32, "ab" * 31, "ab" * 33])
def test_a_file_that_is_not_a_key_is_named(tmp_path, text):
    path = tmp_path / "k"
    path.write_text(text)
    with pytest.raises(InputError, match="is not a MedUE key file") as error:
        read_key_file(path)
    assert str(path) in str(error.value)


def test_commitment_binds_the_key_without_revealing_it():
    key = new_key()
    value = commit(key)
    assert len(value) == 64 and key.hex() not in value
    assert matches(key, value) and not matches(new_key(), value)
    assert commit(key) == value  # deterministic


def test_seeds_are_per_purpose_and_per_key():
    key, other = new_key(), new_key()
    draws = {
        (k, p): np.random.default_rng(seed_sequence(k, p)).random(4).tobytes()
        for k in (key, other)
        for p in ("pattern/amplitude", "pattern/blocks")
    }
    assert len(set(draws.values())) == 4
    assert 0 <= seed_int(key, "umed/seed/0") < 2**63
    assert seed_int(key, "a") != seed_int(key, "b")


def test_keyed_checkerboard_flips_secret_blocks():
    shape = (32, 48)
    plain = checkerboard(shape, 2)
    planes = []
    for key in (new_key(), new_key()):
        perturber = pattern_perturber("pattern-checker-keyed", key.hex(), (1,))
        plane = perturber._plane(perturber.components[0], 1, shape)
        signs = plane * plain  # +-1, constant on each 8 x 8 block
        blocks = signs.reshape(4, 8, 6, 8)
        assert np.all(blocks == blocks[:, :1, :, :1])
        assert 0 < (signs < 0).mean() < 1
        planes.append(plane)
    assert not np.array_equal(*planes)  # the key decides the blocks


def test_the_default_checkerboard_does_not_depend_on_the_key():
    shape = (16, 16)
    planes = [
        pattern_perturber("pattern-checker", key, (1,))._plane(
            pattern_perturber("pattern-checker").components[0], 1, shape
        )
        for key in (new_key().hex(), new_key().hex(), 0)
    ]
    assert all(np.array_equal(planes[0], p) for p in planes[1:])
    assert np.array_equal(planes[0], checkerboard(shape, 2))
