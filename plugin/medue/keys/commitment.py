"""A public hash commitment to the key: the release names its key without revealing it.

``commit(key)`` is SHA-256 (FIPS 180-4) over a fixed domain-separation prefix and the key bytes.
With a 256-bit random key the commitment is hiding (the key cannot be searched for) and binding
(no second key gives the same value), so a key holder proves a key opens a release by
recomputing it, and a wrong key is told apart before anything is written.
"""

from __future__ import annotations

import hashlib
import hmac

COMMITMENT_DOMAIN = b"MedUE key commitment v1\x00"
COMMITMENT_ALGORITHM = "SHA-256(domain || 0x00 || key)"


def commit(key: bytes) -> str:
    """The commitment to ``key``: 64 hexadecimal digits."""
    return hashlib.sha256(COMMITMENT_DOMAIN + key).hexdigest()


def matches(key: bytes, commitment: str) -> bool:
    """Whether ``key`` opens ``commitment`` (compared in constant time)."""
    return hmac.compare_digest(commit(key), str(commitment))
