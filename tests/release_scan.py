"""What a release folder must never contain, read from the private folder of the same run."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from medue.keys import read_key_file, seed_int, seed_sequence

PURPOSES = ("pattern/amplitude", "pattern/blocks", "pattern/texture/1")


def secrets_of(private: Path) -> dict[str, bytes]:
    """Byte strings that would reveal the key, the perturber or a per-image epsilon."""
    key = read_key_file(private / "key")
    found = {
        "the key (raw)": key,
        "the key (hex)": key.hex().encode(),
        "the key (HEX)": key.hex().upper().encode(),
        "the key (base64)": base64.b64encode(key),
        "the key (base64url)": base64.urlsafe_b64encode(key).rstrip(b"="),
    }
    for generator in private.glob("generator.*"):
        data = generator.read_bytes()
        found[f"{generator.name} (whole)"] = data
        if generator.suffix == ".json":
            for name, value in json.loads(data).items():
                if name in ("key", "seed") and value not in (0, ""):
                    found[f"{generator.name} {name}"] = str(value).encode()
    for purpose in PURPOSES:
        found[f"seed of {purpose}"] = str(seed_int(key, purpose)).encode()
        found[f"entropy of {purpose}"] = str(seed_sequence(key, purpose).entropy).encode()
    for case in json.loads((private / "manifest.json").read_text())["cases"]:
        epsilon = case["epsilon_native"]
        if epsilon != int(epsilon):  # an integer (1, 2) is in any file; its decimal form is not
            found[f"epsilon of {case['image_id']}"] = repr(epsilon).encode()
    return found


def leaks(release: Path, private: Path) -> list[str]:
    """Every (file, secret) pair where a released file contains a secret; also words that name
    per-image epsilon or the method's parameters in the public description."""
    secrets = secrets_of(private)
    problems = []
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        data = path.read_bytes()
        problems += [f"{path}: {name}" for name, value in secrets.items() if value in data]
    for name in ("release.json", "RELEASE.md"):
        text = (release / name).read_text().lower()
        problems += [f"{name}: {w}" for w in ("epsilon", "sigma", "seed", '"key"') if w in text]
    return problems


def owner_only_problems(private: Path) -> list[str]:
    """Paths in ``private`` (itself included) that anyone but the owner may read or enter."""
    problems = []
    for path in [private, *private.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            problems.append(f"{path}: {oct(mode)}")
    return problems
