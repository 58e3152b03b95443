"""The job's record of finished cases, so that a killed job resumes where it stopped.

After each case's copy is in place (written atomically, journaled by ``record.ReleaseRecord``),
one line is appended to ``cases.jsonl`` in the private folder and synced: the case's id, the
sha256 of its input, of its protected copy (and label copy), the job's key and the case's
record for the manifest. A job run again into the same folder skips a case only when all of
these still hold:

- same job key: the same settings (``ProtectSettings`` without the victim check) and the same
  fitted method (sha256 of the saved generator or pattern file). A run with the same settings
  first looks for a saved method that earlier cases were made with and applies it again rather
  than fitting anew (``job.run``), so a resumed job neither fits twice nor mixes two
  perturbations in one release;
- the input file is unchanged (sha256);
- the copy on disk is the one recorded (sha256), and so is the label copy.

A line cut by a crash is ignored, like the journal's; a case whose line is missing is simply done
again (its copy, if it landed, is the journal's to replace). The whole record is a few hundred
bytes per case, read once at the start of a job. A job run on several processes keeps one such
record per rank (``cases.rank1.jsonl``, ...; ``medue.distributed``) and reads them all, so a
job resumes whatever number of processes ran it before.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from medue.job.outputs import fingerprint, rank_file, rank_files

CASES = "cases.jsonl"


def job_key(settings: dict, generator_sha256: str) -> str:
    """What must match for a finished case to be kept: the settings and the fitted method."""
    kept = {k: v for k, v in settings.items() if k != "check"}
    text = json.dumps(kept, sort_keys=True, default=str) + generator_sha256
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FinishedCases:
    """The finished cases a release's private folder records, for one job key."""

    folder: Path  # the private folder
    key: str
    entries: dict[str, dict] = field(default_factory=dict)
    rank: int = 0  # which per-rank record this process appends to

    @classmethod
    def open(cls, folder: Path, key: str, rank: int = 0) -> FinishedCases:
        """Read ``folder/cases.jsonl`` (and every rank's); other job keys are ignored."""
        record = cls(folder, key, rank=rank)
        for path in sorted(folder.glob(rank_files(CASES))):
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # cut by a crash
                if isinstance(entry, dict) and entry.get("key") == key and "image_id" in entry:
                    record.entries[entry["image_id"]] = entry
        return record

    def finished(self, image_id: str, source: Path) -> dict | None:
        """The recorded case, if its input and copies are exactly as recorded; else None."""
        entry = self.entries.get(image_id)
        if entry is None or entry.get("input_sha256") != fingerprint(source):
            return None
        for path_key, sha_key in (("output", "output_sha256"), ("label", "label_sha256")):
            path = entry.get(path_key)
            if path is not None and (
                not Path(path).exists() or fingerprint(Path(path)) != entry[sha_key]
            ):
                return None
        return entry

    def add(self, entry: dict) -> None:
        """Append one finished case (synced to disk before the next case starts)."""
        entry = {**entry, "key": self.key}
        self.entries[entry["image_id"]] = entry
        path = self.folder / rank_file(CASES, self.rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as stream:
            stream.write(json.dumps(entry, default=str) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
