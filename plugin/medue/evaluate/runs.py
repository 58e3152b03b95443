"""One victim run = one training source, architecture, countermeasure and seed; and where its
result is kept so an interrupted evaluation picks up where it stopped.

Results live in one JSON file keyed by the run's key. The key includes fingerprints of the
training files and of the test files, so a re-protected release is never scored with an old
release's victims, nor a run tested on other cases reused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from medue.io.atomic import atomic_path

SOURCES = ("clean", "protected")
RUN_FORMAT = 2  # 2: runs hold out a validation split for the attacker with only the release;
# runs stored in an older format are trained again rather than shown without that attacker


@dataclass(frozen=True)
class RunSpec:
    """What one victim is trained on and how."""

    source: str  # "clean" (the reference) or "protected"
    victim: str  # "unet", "segresnet", "attentionunet" (2D) or "unet3d"
    countermeasure: str
    seed: int
    epochs: int

    @property
    def key(self) -> str:
        return f"{self.source}|{self.victim}|{self.countermeasure}|seed={self.seed}|e={self.epochs}"

    @property
    def group(self) -> tuple[str, str, str]:
        """Runs that differ only by seed are summarised together."""
        return self.source, self.victim, self.countermeasure

    def as_dict(self) -> dict:
        return asdict(self)


def plan_runs(
    victims: list[str], countermeasures: list[str], seeds: list[int], epochs: int
) -> list[RunSpec]:
    """Every combination, the undefended reference first so early results are the key ones."""
    ordered = sorted(countermeasures, key=lambda name: name != "none")
    return [
        RunSpec(source, victim, countermeasure, seed, epochs)
        for countermeasure in ordered
        for victim in victims
        for source in SOURCES
        for seed in seeds
    ]


class ResultStore:
    """Finished runs on disk (``runs.json``), written atomically after every run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict] = {}
        if path.exists():
            self.records = json.loads(path.read_text())

    @staticmethod
    def stored_key(spec: RunSpec, fingerprint: str) -> str:
        return f"{spec.key}|data={fingerprint}|format={RUN_FORMAT}"

    def get(self, spec: RunSpec, fingerprint: str) -> dict | None:
        return self.records.get(self.stored_key(spec, fingerprint))

    def put(self, spec: RunSpec, fingerprint: str, result: dict) -> None:
        self.records[self.stored_key(spec, fingerprint)] = {"spec": spec.as_dict(), **result}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.records, indent=1))
