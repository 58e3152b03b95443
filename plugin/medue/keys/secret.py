"""Drawing a key and keeping it in a file only its owner can read.

A key is ``KEY_BYTES`` (32) bytes from ``secrets.token_bytes`` (the operating system's CSPRNG,
PEP 506): 256 bits, beyond any search. On disk it is one line of 64 hexadecimal digits, so a key
file can be copied, compared or printed by the owner with ordinary tools; the file is created
with mode 0600 (owner read/write only) and never overwritten.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from medue.errors import InputError

KEY_BYTES = 32
KEY_FILE = "key"
"""The key's file name in a private folder."""


def new_key() -> bytes:
    """A fresh secret key: ``KEY_BYTES`` bytes from the operating system's random source."""
    return secrets.token_bytes(KEY_BYTES)


def read_key_file(path: Path) -> bytes:
    """The key in ``path`` (64 hexadecimal digits, surrounding whitespace ignored).

    Raises ``InputError`` naming the file when it is missing, unreadable or not such a key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise InputError(path, "key file does not exist") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder; give the key file (PRIVATE/key)") from None
    except UnicodeDecodeError:
        raise InputError(
            path, f"is not a MedUE key file (expected {2 * KEY_BYTES} hexadecimal digits)"
        ) from None
    except OSError as error:
        raise InputError(path, f"cannot read the key file ({error.strerror or error})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise InputError(
            path, f"is not a MedUE key file (expected {2 * KEY_BYTES} hexadecimal digits)"
        )
    return key


def write_key_file(path: Path, key: bytes) -> Path:
    """Write ``key`` to the new file ``path`` with mode 0600; an existing file is never replaced
    (``InputError``). The file is complete or absent: it is written under a temporary name
    created 0600 and linked into place."""
    path = Path(path)
    if len(key) != KEY_BYTES:
        raise ValueError(f"a key has {KEY_BYTES} bytes, got {len(key)}")
    if path.exists():
        raise InputError(path, "exists; a key file is never overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".medue-tmp-{secrets.token_hex(4)}-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write(key.hex() + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.link(tmp, path)  # fails if ``path`` appeared meanwhile: never replaced
    except FileExistsError:
        raise InputError(path, "exists; a key file is never overwritten") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
