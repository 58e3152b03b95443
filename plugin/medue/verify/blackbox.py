"""Black-box proof of use: probe files for the suspect's owner to run, then their answers scored.

``write_probes`` writes, in random order and under neutral names, every clean probe image and
every probe with the owner's key's mark or one decoy's mark (``medue.verify.probes``), in the
probes' own file format, plus ``probes.csv`` listing them and ``README.txt`` saying what answer
to send back; the answer sheet (which file carries which key) goes to the private folder only.
Each batch of probe files has its own random id, in every file name (``probe_<id>_<n>``) and in
its sheet's name, so answers are always scored against the batch they answer, however many
batches were written since. ``score_predictions`` reads the suspect's outputs on
those files back — one row per file, with a score per class (logits or probabilities) or a
predicted ``label`` — and runs the same key-against-decoys rank test as the white-box mode
(``medue.verify.test``): the response of a probe is its marked-minus-reference score margin (or,
for labels, whether it is called the marked class) minus that of its clean original.
With ``N`` probe images and ``K`` decoys a classifier answers ``N (K + 2)`` queries per marked
class: 16 probes and 99 decoys are 1,616 queries.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.io import image_extension, read_volume, write_volume
from medue.io.atomic import atomic_path
from medue.job.private import restrict
from medue.verify.decoys import decoy_keys
from medue.verify.probes import ProbeSet
from medue.verify.rank import rank_test
from medue.verify.record import VerifyRecord
from medue.verify.test import VerifyResult

DECOYS_BLACK_BOX = 99
PROBES_BLACK_BOX = 16
SHEET_FOLDER = "verify/probes"
CLEAN = -1  # the answer sheet's key index of an unmarked probe
BATCH = re.compile(r"^probe_([0-9a-f]{8})_\d+")
INSTRUCTIONS = """Probe images: please run your model on every image listed in probes.csv, each as
it is stored (no resizing, no intensity changes beyond what your model itself does), and send back
one CSV file with a row per image: the column `image` (the file name) and your model's score for
each class, one column per class named {columns} (logits or probabilities), or, if your service
gives only its decision, the column `label` with the predicted class name.
"""


@dataclass(frozen=True)
class ProbeBatch:
    """What ``write_probes`` wrote: the folder, its file count and the private answer sheet."""

    folder: Path
    files: int
    sheet: Path


def write_probes(
    record: VerifyRecord,
    probes: ProbeSet,
    out: Path,
    decoys: int = DECOYS_BLACK_BOX,
    seed: int | None = None,
) -> ProbeBatch:
    """Write the probe files of ``record``'s marked classes into ``out`` (new or empty, outside
    the private folder). Raises ``InputError`` when ``out`` is not usable."""
    out = checked_probe_folder(record.private, out)
    keys = [record.key, *decoy_keys(record.key, decoys)]
    jobs = [(CLEAN, "", j) for j in range(len(probes.ids))]
    jobs += [(k, name, j) for name in record.marked_classes for k in range(len(keys))
             for j in range(len(probes.ids))]  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(jobs))
    batch = secrets.token_hex(4)
    out.mkdir(parents=True, exist_ok=True)
    shape, rows = probes.images.shape[1:], []
    for number, index in enumerate(order):
        k, name, j = jobs[index]
        image = probes.images[j]
        if k != CLEAN:
            single = ProbeSet(probes.ids[j : j + 1], image[None], probes.encoding)
            image = single.with_mark(record.mark(name, shape, keys[k]), record.amplitude)[0]
        source = read_volume(probes.sources[j])
        file = f"probe_{batch}_{number:05d}{image_extension(probes.sources[j]) or ''}"
        write_volume(
            source.with_array(image.reshape(source.shape).astype(source.array.dtype)), out / file
        )
        rows.append({"file": file, "probe": j, "key": k, "class": name})
    with atomic_path(out / "probes.csv") as tmp, tmp.open("w", newline="") as handle:
        handle.write(
            "image\n" + "".join(f"{row['file']}\n" for row in sorted(rows, key=lambda r: r["file"]))
        )
    columns = ", ".join(f"`{name}`" for name in record.perturber.class_names)
    with atomic_path(out / "README.txt") as tmp:
        tmp.write_text(INSTRUCTIONS.format(columns=columns))
    sheet = record.private / SHEET_FOLDER / f"{batch}.json"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    answers = {"batch": batch, "folder": str(out.resolve()), "decoys": decoys,
               "probes": len(probes.ids),
               "sources": [str(Path(p).resolve()) for p in probes.sources]}  # fmt: skip
    with atomic_path(sheet) as tmp:
        tmp.write_text(json.dumps({**answers, "files": rows}, indent=1))
    restrict(record.private)
    return ProbeBatch(out, len(rows), sheet)


def checked_probe_folder(private: Path, out: Path) -> Path:
    """``out`` as a probe folder: new or empty, and outside the private folder ``private``.
    Raises ``InputError`` otherwise."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(out, "exists and is not empty; give a new folder for the probes")
    if private.resolve() in (out.resolve(), *out.resolve().parents):
        raise InputError(out, "must be outside the private folder: it goes to the suspect's owner")
    return out


def score_predictions(
    record: VerifyRecord, predictions: Path, sheet: Path | None = None
) -> tuple[VerifyResult, ProbeSet]:
    """The rank test on the suspect's answers in ``predictions`` (CSV: ``image`` and a column per
    class, or ``label``). Raises ``InputError`` naming the CSV when it lacks any probe file, lists
    a file that is not one, or has no usable columns. Also returns the first clean probe (for
    the report's picture)."""
    table = _read_predictions(predictions)
    sheet = sheet or answer_sheet(record.private, table, predictions)
    answers = json.loads(sheet.read_text())
    files = {row["file"] for row in answers["files"]}
    missing, extra = sorted(files - set(table)), sorted(set(table) - files)
    if missing or extra:
        what = []
        if missing:
            what.append(f"{_count(missing, 'probe file')} missing (e.g. {missing[0]})")
        if extra:
            what.append(f"{_count(extra, 'other file')} (e.g. {extra[0]})")
        raise InputError(
            predictions,
            f"does not match probe batch {answers.get('batch', sheet.stem)} "
            f"({len(files)} files): {', '.join(what)}",
        )
    margin = _margin_reader(
        table, record.perturber.class_names, record.perturber.reference, predictions
    )
    count, decoys = answers["probes"], answers["decoys"]
    clean_file = {row["probe"]: row["file"] for row in answers["files"] if row["key"] == CLEAN}
    tests, responses = {}, {}
    for name in record.marked_classes:
        values = np.zeros((decoys + 1, count))
        for row in answers["files"]:
            if row["key"] != CLEAN and row["class"] == name:
                j = row["probe"]
                values[row["key"], j] = margin(row["file"], name) - margin(clean_file[j], name)
        responses[name] = values
        tests[name] = rank_test(values[0], values[1:])
    p = min(1.0, min(t.p_value for t in tests.values()) * len(tests))
    result = VerifyResult(p, tests[name].alpha, tests, responses, count, record.amplitude)
    first = read_volume(Path(answers["sources"][0]))
    image = np.asarray(first.array, dtype=np.float64).reshape(first.array.shape[-2:])
    return result, ProbeSet(("probe",), image[None], first.encoding, (), (first.source,))


def answer_sheet(private: Path, names: Iterable[str], predictions: Path) -> Path:
    """The answer sheet (in the private record ``private``) of the one probe batch that the
    predictions' file ``names`` come from. Raises ``InputError`` naming ``predictions`` when they
    name no probe file, mix batches, or answer a batch this record did not write."""
    batches = {found.group(1) for name in names if (found := BATCH.match(name))}
    if not batches:
        raise InputError(predictions, "names no probe file (probe_<batch>_<n>...); answer the "
                         "files that `medue verify probes` wrote")  # fmt: skip
    if len(batches) > 1:
        raise InputError(predictions, f"mixes answers of {len(batches)} probe batches "
                         f"({', '.join(sorted(batches))}); send one CSV per batch")  # fmt: skip
    (batch,) = batches
    sheet = private / SHEET_FOLDER / f"{batch}.json"
    if not sheet.is_file():
        raise InputError(predictions, f"answers probe batch {batch}, which this release's "
                         "private record did not write")  # fmt: skip
    return sheet


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _read_predictions(path: Path) -> dict[str, dict[str, str]]:
    """{file name: row} of a predictions CSV (its ``image`` column: a name or a path)."""
    try:
        with Path(path).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise InputError(path, "predictions file does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(path, f"cannot be read as CSV ({type(error).__name__})") from None
    if not rows or "image" not in rows[0]:
        raise InputError(
            path, "needs a header row with an `image` column and the suspect's answers"
        )
    return {Path(row["image"].strip()).name: row for row in rows}


def _margin_reader(table: dict, names: tuple[str, ...], reference: str, path: Path):
    """A function (file, class) -> the suspect's margin of ``class`` over ``reference``: scores
    when the CSV has a column per class, else 1 if its ``label`` is the class, else 0."""
    columns = set(next(iter(table.values())))
    if set(names) <= columns:

        def margin(file: str, name: str) -> float:
            try:
                return float(table[file][name]) - float(table[file][reference])
            except ValueError:
                raise InputError(path, f"row {file}: the scores must be numbers") from None

        return margin
    if "label" in columns:
        return lambda file, name: float(table[file]["label"].strip() == name)
    raise InputError(
        path, f"needs a score column per class ({', '.join(names)}) or a `label` column"
    )
