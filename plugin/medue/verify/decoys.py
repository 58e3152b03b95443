"""Decoy keys: K keys of the same family as the owner's, derived from it so nobody can pick them.

Decoy ``i`` is HMAC-SHA256(key, ``"verify/decoy/<i>"``) (RFC 2104): 32 bytes, a pseudo-random
function of the key, so the decoys are as random as fresh keys to anyone who does not hold the
key, and anyone who does (a court's expert, after the owner reveals it) recomputes the same ones.
A decoy key renders its mark exactly as the real key does (the method's own ``mark``).
"""

from __future__ import annotations

import hashlib
import hmac

DECOYS = 999
"""The default number of decoys: p-values resolve down to 1 / 1000."""


def decoy_keys(key: bytes, count: int = DECOYS) -> list[bytes]:
    """``count`` decoy keys derived from ``key`` (each 32 bytes, all distinct from it)."""
    if count < 1:
        raise ValueError(f"need at least one decoy, got {count}")
    return [
        hmac.new(key, f"verify/decoy/{i}".encode(), hashlib.sha256).digest() for i in range(count)
    ]
