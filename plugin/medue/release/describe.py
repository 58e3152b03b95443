"""Build, write and read a release's public description from the owner's manifest.

Only dataset-level aggregates leave the manifest: counts, the range of whole-image PSNR and SSIM,
and the range of what a reader sees (JND of the worst patch at 1x and 4x zoom,
``medue.perception``). Per-image values, epsilon in any unit, the noise sigma it was resolved
from, seeds, the key and the fitted method's file stay private.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from medue import __version__
from medue.errors import InputError
from medue.io.atomic import atomic_path
from medue.keys.commitment import COMMITMENT_ALGORITHM, COMMITMENT_DOMAIN, commit
from medue.methods.names import (
    BASELINES,
    CLASSIFICATION_METHODS,
    EMN_METHODS,
    PATTERN_METHODS,
    PRESENCE_METHODS,
    SALM_METHODS,
)

RELEASE_JSON = "release.json"
RELEASE_MD = "RELEASE.md"
FORMAT = "medue-release/1"
LEGACY_MANIFEST = "medue/manifest.json"  # where releases written before the split kept it


def method_family(method: str | None) -> str:
    """The family a downloader is told: fixed pattern, UMed, EMN, SALM or a baseline."""
    families = (
        (PATTERN_METHODS, "fixed class pattern"),
        (PRESENCE_METHODS, "class presence pattern"),
        (EMN_METHODS, "error-minimizing noise"),
        (SALM_METHODS, "saliency-guided noise (SALM)"),
        (BASELINES, "baseline noise"),
        (("umed",), "UMed generator"),
    )
    return next((family for names, family in families if method in names), "unknown")


def release_description(record: dict, key: bytes) -> dict:
    """The public description of the release ``record`` (a manifest) made with ``key``."""
    settings = record.get("settings", {})
    method = settings.get("method")
    cases = record.get("cases", [])
    preset = settings.get("budget", {}).get("preset")
    return {
        "format": FORMAT,
        "medue_version": __version__,
        "method": method,
        "method_family": method_family(method),
        "task": "classification" if method in CLASSIFICATION_METHODS else "segmentation",
        "preset": preset if preset else "custom epsilon",
        "images": len(cases),
        "visibility": _visibility([case.get("metrics", {}) for case in cases]),
        "key_commitment": {
            "algorithm": COMMITMENT_ALGORITHM,
            "domain": COMMITMENT_DOMAIN.decode("ascii").rstrip("\x00"),
            "value": commit(key),
        },
    }


def _visibility(metrics: list[dict]) -> dict:
    """Ranges over the dataset (min, max) of the whole-image measures every image has."""
    measures = {
        "psnr_db": lambda m: m.get("psnr_db"),
        "psnr_peak_db": lambda m: m.get("psnr_peak_db"),
        "ssim": lambda m: m.get("ssim"),
        "jnd_1x": lambda m: m.get("jnd", {}).get("1x"),
        "jnd_4x": lambda m: m.get("jnd", {}).get("4x"),
    }
    ranges = {}
    for name, value in measures.items():
        values = [value(m) for m in metrics]
        finite = [float(v) for v in values if isinstance(v, int | float) and v == v]
        if metrics and len(finite) == len(values):
            ranges[name] = [round(min(finite), 2), round(max(finite), 2)]
    return ranges


def _markdown(description: dict) -> str:
    seen = description["visibility"]
    lines = [
        "# A protected release",
        "",
        f"These {description['images']} images were protected by MedUE "
        f"{description['medue_version']} ({description['method_family']}, "
        f"method `{description['method']}`, preset `{description['preset']}`): small "
        "perturbations meant to keep a model trained on them from learning the anatomy.",
        "",
        "Visibility over the whole release (min - max):",
        "",
    ]
    for name, (low, high) in seen.items():
        lines.append(f"- {name}: {low:g} - {high:g}")
    commitment = description["key_commitment"]
    lines += [
        "",
        f"The release was made with a secret key; its commitment "
        f'({commitment["algorithm"]}, domain "{commitment["domain"]}") is '
        f"`{commitment['value']}`. The key holder can prove ownership and restore the "
        "originals; the key itself is not part of this release.",
        "",
    ]
    return "\n".join(lines)


def write_release_description(
    output: Path, record: dict, key: bytes, before_commit: Callable[[Path, Path], None]
) -> dict[str, Path]:
    """Write ``release.json`` and ``RELEASE.md`` into the release folder ``output``
    (atomically); ``before_commit(target, staged)`` is called with each complete temporary file
    just before it is moved into place. Returns ``{name: path}``."""
    description = release_description(record, key)
    texts = {RELEASE_JSON: json.dumps(description, indent=2) + "\n",
             RELEASE_MD: _markdown(description)}  # fmt: skip
    written = {}
    for name, text in texts.items():
        target = output / name
        with atomic_path(target) as tmp:
            tmp.write_text(text)
            before_commit(target, tmp)
        written[name] = target
    return written


def release_method(release: Path) -> tuple[str | None, str | None]:
    """``(method, preset)`` a release folder says it was made with (its ``release.json``, or a
    release written before the split, its ``medue/manifest.json``); ``(None, None)`` if neither
    is readable. ``medue evaluate`` needs no more than this, as an attacker would."""
    for name, fields in ((RELEASE_JSON, ("method", "preset")), (LEGACY_MANIFEST, None)):
        try:
            data = json.loads((Path(release) / name).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if fields is not None:
            return data.get("method"), data.get("preset")
        settings = data.get("settings", {})
        budget = settings.get("budget", {})
        preset = budget.get("preset") or (
            f"eps{budget['epsilon']:g}" if budget.get("epsilon") is not None else "custom"
        )
        return settings.get("method"), preset
    return None, None


def read_release_description(release: Path) -> dict:
    """The ``release.json`` of ``release``; ``InputError`` naming it when missing or broken."""
    path = Path(release) / RELEASE_JSON
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "is missing: not a MedUE release folder") from None
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot be read as JSON ({type(error).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(path, "is not a MedUE release description")
    return data
