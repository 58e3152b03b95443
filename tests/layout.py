"""Where a protect run puts the owner's private folder, for tests that read it."""

from __future__ import annotations

from pathlib import Path


def private(out: Path) -> Path:
    """``OUT.private``: the default private folder beside the release ``out``."""
    return out.with_name(out.name + ".private")
