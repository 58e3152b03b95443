"""Per-purpose seeds from the key: HMAC-SHA256 (RFC 2104, FIPS 198-1) under a purpose label.

Every random draw of a method (a pattern's amplitude positions, its secret block signs, a
generator's initial weights) asks for its own seed by a purpose label such as
``"pattern/amplitude"``. The seed is HMAC-SHA256(key, label): a pseudo-random function of the
key, so seeds of different purposes are independent and none reveals the key or another seed.
It feeds numpy's ``SeedSequence`` (the 256-bit digest as its entropy) or, where a method takes an
integer seed (torch), its first 63 bits.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np


def _digest(key: bytes, purpose: str) -> bytes:
    return hmac.new(key, purpose.encode("utf-8"), hashlib.sha256).digest()


def seed_sequence(key: bytes, purpose: str) -> np.random.SeedSequence:
    """numpy's ``SeedSequence`` for ``purpose``: ``np.random.default_rng(seed_sequence(...))``."""
    return np.random.SeedSequence(int.from_bytes(_digest(key, purpose), "big"))


def seed_int(key: bytes, purpose: str) -> int:
    """A non-negative 63-bit integer seed for ``purpose`` (e.g. ``torch.manual_seed``)."""
    return int.from_bytes(_digest(key, purpose)[:8], "big") >> 1
