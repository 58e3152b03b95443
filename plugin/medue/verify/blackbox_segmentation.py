"""Black-box proof of use for a segmentation release: probe files out, label maps back.

``write_segmentation_probes`` writes the calibration's probes (``medue.verify.references``),
each clean and with the release's pattern pasted, in random order under neutral names
(``probe_<batch>_<n>`` in the probes' own file format), plus ``probes.csv`` and ``README.txt``;
which file is which goes to the private folder only. ``score_label_maps`` reads the suspect's
label maps for those files (a folder or a zip, one file per probe, named as the probe; 0 is
background, any other value foreground; or a probability of foreground in [0, 1], read as
foreground above 0.5) and runs the same test against the same reference models as the white-box
mode: with hard labels the two modes compute the same statistic. ``N`` probes are ``2 N``
queries: 16 probes are 32.
"""

from __future__ import annotations

import json
import secrets
import zipfile
from pathlib import Path

import numpy as np

from medue.errors import InputError
from medue.io import image_extension, read_volume, strip_extension, write_volume
from medue.io.atomic import atomic_path
from medue.job.private import restrict
from medue.verify.blackbox import SHEET_FOLDER, answer_sheet, checked_probe_folder
from medue.verify.record import SegmentationRecord
from medue.verify.references import Calibration, rank_against_references
from medue.verify.segmentation import responses
from medue.verify.test import VerifyResult

INSTRUCTIONS = """Probe images: please run your segmentation model on every image listed in
probes.csv, each as it is stored (no resizing, no intensity changes beyond what your model itself
does), and send back its label map for each, as a file of the same name and format (0 for
background, the structure's label elsewhere; or a foreground probability in [0, 1]), all in one
folder or one zip file.
"""


def write_segmentation_probes(
    record: SegmentationRecord, calibration: Calibration, out: Path, seed: int | None = None
) -> tuple[Path, int, Path]:
    """Write the probe files into ``out`` (new or empty, outside the private folder); returns
    the folder, the number of files and the private answer sheet. Raises ``InputError`` when
    ``out`` is not usable."""
    out = checked_probe_folder(record.private, out)
    probes = calibration.probes
    jobs = [(j, marked) for j in range(len(probes.ids)) for marked in (False, True)]
    order = np.random.default_rng(seed).permutation(len(jobs))
    batch = secrets.token_hex(4)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, index in enumerate(order):
        j, marked = jobs[index]
        source = read_volume(probes.sources[j])
        image = (probes.marked if marked else probes.clean)[j]
        file = f"probe_{batch}_{number:05d}{image_extension(probes.sources[j]) or ''}"
        array = image.reshape(source.shape).astype(source.array.dtype)
        write_volume(source.with_array(array), out / file)
        rows.append({"file": file, "probe": j, "marked": marked})
    with atomic_path(out / "probes.csv") as tmp:
        tmp.write_text("image\n" + "".join(f"{r['file']}\n" for r in sorted(rows, key=_file)))
    with atomic_path(out / "README.txt") as tmp:
        tmp.write_text(INSTRUCTIONS)
    sheet = record.private / SHEET_FOLDER / f"{batch}.json"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(sheet) as tmp:
        tmp.write_text(
            json.dumps(
                {
                    "batch": batch,
                    "folder": str(out.resolve()),
                    "task": "segmentation",
                    "files": rows,
                },
                indent=1,
            )
        )
    restrict(record.private)
    return out, len(rows), sheet


def score_label_maps(
    record: SegmentationRecord, calibration: Calibration, predictions: Path
) -> VerifyResult:
    """The test on the suspect's label maps in ``predictions`` (a folder or a zip). Raises
    ``InputError`` naming it when a probe's map is missing, a file is not a probe's, a map's
    shape differs from its probe's, or it answers a batch this record did not write."""
    maps = _read_maps(Path(predictions))
    sheet = answer_sheet(record.private, maps, predictions)
    rows = json.loads(sheet.read_text())["files"]
    wanted = {strip_extension(r["file"]): r for r in rows}
    missing, extra = sorted(set(wanted) - set(maps)), sorted(set(maps) - set(wanted))
    if missing or extra:
        what = [f"{len(missing)} probe maps missing (e.g. {missing[0]})"] if missing else []
        what += [f"{len(extra)} other files (e.g. {extra[0]})"] if extra else []
        raise InputError(
            predictions,
            f"does not match probe batch {sheet.stem} ({len(wanted)} files): {', '.join(what)}",
        )
    probes = calibration.probes
    shape = probes.clean.shape[1:]
    clean = np.zeros(probes.clean.shape, bool)
    marked = np.zeros(probes.clean.shape, bool)
    for stem, row in wanted.items():
        answer = maps[stem]
        if answer.shape != shape:
            raise InputError(
                predictions, f"{stem}: label map shaped {answer.shape}, its probe {shape}"
            )
        foreground = _foreground(answer, stem, predictions)
        (marked if row["marked"] else clean)[row["probe"]] = foreground
    return rank_against_references(responses(clean, marked, probes.regions), calibration)


MAX_LABELS = 16
"""A label map with more distinct values than this is an image, not a label map."""


def _foreground(answer: np.ndarray, stem: str, predictions: Path) -> np.ndarray:
    """Foreground of one answer: a label map (> 0), or a probability map (> 0.5). Raises
    ``InputError`` for an answer that is neither (e.g. the probe image itself, or logits)."""
    if np.issubdtype(answer.dtype, np.floating) and not np.array_equal(answer, np.rint(answer)):
        if answer.min() < 0 or answer.max() > 1:
            raise InputError(predictions, f"{stem}: values {answer.min():.3g}..{answer.max():.3g} "
                             "are not a label map or probabilities in [0, 1]")  # fmt: skip
        return answer > 0.5
    values = np.unique(answer)
    if values.size > MAX_LABELS or values.min() < 0:
        raise InputError(predictions, f"{stem}: {values.size} distinct values from "
                         f"{values.min():g}: an image, not a label map (send the model's label "
                         "maps for the probe files, not the probe files)")  # fmt: skip
    return answer > 0


def _read_maps(path: Path) -> dict[str, np.ndarray]:
    """{probe file stem: (H, W) array} of a folder or zip of label maps."""
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if image_extension(p)]
        return {strip_extension(p): _squeezed(p) for p in files}
    if zipfile.is_zipfile(path):
        import tempfile  # noqa: PLC0415

        with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if image_extension(n) and "/." not in n]
            for name in names:
                target = Path(scratch) / Path(name).name
                target.write_bytes(archive.read(name))
            return {strip_extension(n): _squeezed(Path(scratch) / Path(n).name) for n in names}
    if not path.exists():
        raise InputError(path, "predictions do not exist")
    raise InputError(path, "is not a folder or zip of label maps (one per probe file)")


def _squeezed(path: Path) -> np.ndarray:
    array = np.asarray(read_volume(path).array)
    return array.reshape(array.shape[-2:]) if array.size == np.prod(array.shape[-2:]) else array


def _file(row: dict) -> str:
    return row["file"]
