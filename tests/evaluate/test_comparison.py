"""Releases side by side: labels from the manifests (the full command is in test_cli_evaluate)."""

from __future__ import annotations

import json
from pathlib import Path

from medue.evaluate.comparison import release_labels


def test_release_labels_come_from_manifests_and_stay_unique(tmp_path: Path):
    def release(name: str, budget: dict | None) -> Path:
        folder = tmp_path / name
        (folder / "medue").mkdir(parents=True)
        if budget is not None:
            settings = {"method": "umed", "budget": budget}
            (folder / "medue/manifest.json").write_text(json.dumps({"settings": settings}))
        return folder

    folders = [
        release("a", {"preset": "robust", "epsilon": None}),
        release("b", {"preset": None, "epsilon": 6}),
        release("c", {"preset": "balanced"}),
        release("d", {"preset": "balanced"}),
        release("plain", None),
    ]
    assert release_labels(folders) == [
        "umed-robust", "umed-eps6", "umed-balanced-c", "umed-balanced-d", "plain",
    ]  # fmt: skip
