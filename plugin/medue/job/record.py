"""What MedUE has written into an output folder: the journal that tells its files from the user's.

Every image or label MedUE moves into an output folder is appended to the journal in the
release's private folder (``OUT.private/journal.jsonl``, ``medue.job.private``)
with its sha256 (all of its files) and the input it came from *before* it is moved into place
(write-ahead: the sha256 of the staged copy, whose files already carry their final names), and
the line is synced to disk first. So a process killed at any instant leaves no file in the folder
that its journal does not recognise, and even after an interrupted run that wrote no manifest:

- a file in the output folder may be replaced only if the journal has it, unchanged (any sha256
  it journaled for that path: a line written ahead of a move that never happened names content
  that is not there, so it can only match MedUE's own bytes); anything else there is the user's
  and is never overwritten (the case is refused, naming the file);
- nothing is written outside the output folder, even through a link inside it;
- an output folder that holds another input's release is refused;
- the copies an earlier run wrote for cases that are not written this time (a case that fails
  now, or was removed from the input) are deleted if still unchanged, so that the folder holds
  exactly what the new manifest lists.

A job run on several processes (``medue.distributed``) keeps one journal per rank
(``journal.rank1.jsonl``, ...; rank 0's is ``journal.jsonl``), so no two processes append to one
file; the journal is all of them together.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from medue.errors import InputError
from medue.io import volume_files
from medue.job.outputs import fingerprint, rank_file, rank_files
from medue.keys import KEY_FILE

JOURNAL = "journal.jsonl"


@dataclass
class ReleaseRecord:
    """The journal of one output folder, for one input."""

    input: Path  # resolved
    output: Path  # resolved
    private: Path  # resolved: the release's private folder, where the journal lives
    found: dict[Path, set[str]] = field(default_factory=dict)  # the journal as this run found it
    written: dict[Path, str] = field(default_factory=dict)  # journaled by this run: path -> sha256
    rank: int = 0  # which per-rank journal this process appends to

    @classmethod
    def open(cls, input_path: Path, output: Path, private: Path, rank: int = 0) -> ReleaseRecord:
        """Read ``output``'s journal in ``private`` (every rank's); refuse a folder holding
        another input's release, or a private folder MedUE has no record of."""
        record = cls(input_path.resolve(), output.resolve(), private.resolve(), rank=rank)
        inputs = set()
        for entry in _entries(record.private):
            inputs.add(entry["input"])
            record.found.setdefault(Path(entry["output"]), set()).add(entry["sha256"])
        others = sorted(i for i in inputs if Path(i) != record.input)
        if others:
            raise InputError(
                output,
                f"holds the release of another input ({others[0]}); "
                "use one output folder per dataset",
            )
        secret = record.private
        ours = (secret / KEY_FILE).is_file()
        if not inputs and not ours and secret.is_dir() and any(secret.iterdir()):
            raise InputError(
                secret, "exists but holds no record of a MedUE release; choose another folder"
            )
        return record

    def check_target(self, target: Path, parts: list[Path]) -> None:
        """Refuse to write ``target`` (and its ``parts``, relative to its folder) outside the
        output folder or over files MedUE did not write there."""
        for part in parts:
            path = target.parent / part
            if not path.parent.resolve().is_relative_to(self.output):
                raise InputError(
                    path, "leads outside the output folder (through a link); nothing written"
                )
        if target.is_dir():
            return  # a DICOM series: the series writer accepts only its own earlier output
        present = [target.parent / p for p in parts if (target.parent / p).exists()]
        if present and not (target.exists() and self.recognises(target)):
            raise InputError(
                present[0],
                "exists and is not a copy MedUE recorded in this folder; move it away or "
                "choose an empty output folder",
            )

    def recognises(self, path: Path) -> bool:
        """Whether ``path`` holds content this journal records for it (MedUE's own copy)."""
        resolved = path.resolve()
        known = set(self.found.get(resolved, ()))
        if resolved in self.written:
            known.add(self.written[resolved])
        return bool(known) and fingerprint(path) in known

    def add(self, path: Path, sha256: str | None = None) -> None:
        """Journal ``path`` with its sha256 and this record's input, synced to disk.

        Give ``sha256`` (the staged copy's fingerprint) to journal a copy *before* moving it onto
        ``path``; without it, ``path`` is fingerprinted where it lies. Content the journal already
        has for ``path`` (written ahead by a run killed before or after the move) is not
        journaled twice."""
        resolved = path.resolve()
        self.written[resolved] = sha256 or fingerprint(path)
        if self.written[resolved] in self.found.get(resolved, ()):
            return
        entry = {
            "input": str(self.input),
            "output": str(resolved),
            "sha256": self.written[resolved],
        }
        journal = self.private / rank_file(JOURNAL, self.rank)
        journal.parent.mkdir(parents=True, exist_ok=True)
        with journal.open("a") as stream:
            stream.write(json.dumps(entry) + "\n")
            stream.flush()
            os.fsync(stream.fileno())

    def forget(self, path: Path) -> None:
        """This run did not write ``path`` after all (journaled ahead, then the move failed)."""
        self.written.pop(path.resolve(), None)

    def has(self, *paths: str | None) -> bool:
        """Whether the journal lists every one of ``paths`` (None entries are skipped)."""
        return all(Path(p).resolve() in self.found for p in paths if p is not None)

    def keep(self, path: Path, sha256: str) -> None:
        """Count ``path``, written by an earlier run with ``sha256`` and journaled then, as
        written by this run (it is not deleted as stale); raises ``KeyError`` if the journal does
        not have that content for it."""
        resolved = path.resolve()
        if sha256 not in self.found.get(resolved, ()):
            raise KeyError(path)
        self.written[resolved] = sha256

    def sha256(self, path: Path) -> str:
        """The sha256 journaled for ``path`` by this run (computed once, when it landed)."""
        return self.written[path.resolve()]

    def remove_stale(self) -> list[str]:
        """Delete what the journal listed when this run began, this run did not write again, and
        is still unchanged; returns the deleted paths."""
        removed = []
        for path, shas in self.found.items():
            if path in self.written or not path.exists() or not path.is_relative_to(self.output):
                continue
            if fingerprint(path) not in shas:
                continue  # changed since: not MedUE's to delete
            for part in [path] if path.is_dir() else [path.parent / p for p in volume_files(path)]:
                shutil.rmtree(part) if part.is_dir() else part.unlink()
            removed.append(str(path))
        return removed


def _entries(private: Path) -> list[dict]:
    lines = []
    for journal in sorted(private.glob(rank_files(JOURNAL))):
        lines += journal.read_text().splitlines()
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash: the files it named are not MedUE's to replace
        if {"input", "output", "sha256"} <= entry.keys():
            entries.append(entry)
    return entries
