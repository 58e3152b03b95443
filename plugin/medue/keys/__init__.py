"""The dataset's secret key: drawn, stored owner-only, committed to in public, and the seeds of
every random draw of a protection method derived from it.

Kerckhoffs's principle: the method is assumed public; only the key is secret. A key is 32 bytes
from the operating system's random source (``secret``); the release names it only by a hash
commitment (``commitment``); each method derives its seeds from it with HMAC-SHA256 under a
purpose label (``derive``), so one key serves every draw without any two sharing a stream.
"""

from __future__ import annotations

from medue.keys.commitment import commit, matches
from medue.keys.derive import seed_int, seed_sequence
from medue.keys.secret import KEY_BYTES, KEY_FILE, new_key, read_key_file, write_key_file

__all__ = [
    "KEY_BYTES",
    "KEY_FILE",
    "commit",
    "matches",
    "new_key",
    "read_key_file",
    "seed_int",
    "seed_sequence",
    "write_key_file",
]
