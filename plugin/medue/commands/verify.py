"""Test a suspect model for use of a release; p <= 0.01 means detected (false positives <= 1 %).

  medue verify PRIVATE MODEL --images CLEAN      the model file is at hand (white-box)
  medue verify probes PRIVATE OUT --images CLEAN write probe files for the suspect's owner to run
  medue verify score PRIVATE PREDICTIONS         score their answers (CSV: image + class scores;
                                                 a folder or zip of label maps: segmentation)
  medue verify references PRIVATE MODEL... --images CLEAN
                                                 segmentation: measure clean reference models

PRIVATE is the protect run's private folder. MODEL is a TorchScript model taking images in their
stored units, a MONAI bundle folder (its own network, weights and pre-processing), or a state
dict with ``--arch`` (and ``--intensity``). CLEAN is a folder of clean
images the suspect never saw (not released). A classification release (``--method
pattern-presence-keyed``): the suspect's answer to the key's mark is ranked against its answers
to decoy keys, on CLEAN's images of the reference class when it has them. A segmentation release
(the checkerboard on the structures, the same for every key): the release's change is pasted onto
CLEAN's images off their structures, and the suspect's answer is ranked against that of clean
reference models the owner trained, measured once with ``references`` (99 for p to reach 0.01);
later tests reuse those probes (docs/METHODS.md, "Proof of use"). The report (``verify.json``,
``verify.html``, with the suspect file's sha256) goes to PRIVATE/verify/<name>-<sha256 prefix>/
or ``--out``. Images reach the model as SimpleITK and DICOM viewers read them: (N, 1, rows,
columns), the transpose of nibabel's array. Exit code 0: tested (read the
decision); 2: a bad input (one line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medue.commands.progress import PhaseBars
from medue.errors import InputError
from medue.verify.actions import (
    PROBES_WHITE_BOX,
    Verdict,
    calibrate_references,
    check_model,
    check_predictions,
    make_probes,
)
from medue.verify.blackbox import DECOYS_BLACK_BOX, PROBES_BLACK_BOX
from medue.verify.bundle import is_bundle
from medue.verify.record import (
    SegmentationRecord,
    VerifyRecord,
    open_record,
    read_segmentation_record,
)
from medue.verify.references import PROBES_SEGMENTATION
from medue.verify.report import decision_line
from medue.verify.suspect import CLASSIFIERS, SEGMENTERS, Intensity
from medue.verify.test import DECOYS_WHITE_BOX

USAGE = """medue verify PRIVATE MODEL --images CLEAN [options]
       medue verify probes PRIVATE OUT --images CLEAN [options]
       medue verify score PRIVATE PREDICTIONS [options]
       medue verify references PRIVATE MODEL... --images CLEAN [options]"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.usage = USAGE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("words", nargs="+", metavar="ARG", help="as in the usage lines above")
    parser.add_argument("--images", type=Path, metavar="CLEAN", help="clean images never released")
    parser.add_argument(
        "--arch", choices=(*SEGMENTERS, *CLASSIFIERS), help="a state dict's network"
    )
    parser.add_argument(
        "--intensity",
        default="uint8",
        help="a state dict's input from stored units: uint8 (x/255), none or LOW,HIGH",
    )
    parser.add_argument(
        "--decoys",
        type=int,
        help=f"decoy keys (default {DECOYS_WHITE_BOX} for a model, {DECOYS_BLACK_BOX} for probes)",
    )
    parser.add_argument(
        "--probes",
        type=int,
        help=f"probe images used (default {PROBES_WHITE_BOX} for a model, "
        f"{PROBES_BLACK_BOX} for probe files; segmentation: {PROBES_SEGMENTATION}, chosen "
        "with the references)",
    )
    parser.add_argument("--key-file", type=Path, metavar="PATH", help="default: PRIVATE/key")
    parser.add_argument("--out", type=Path, help="report folder (default PRIVATE/verify/NAME)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    words = args.words
    if words[0] == "references":
        if len(words) < 3:
            raise InputError(None, "usage: medue verify references PRIVATE MODEL... --images CLEAN")
        return _references(args, read_segmentation_record(Path(words[1]), args.key_file), words[2:])
    if words[0] in ("probes", "score"):
        if len(words) != 3:
            raise InputError(
                None,
                f"usage: medue verify {words[0]} PRIVATE "
                f"{'OUT' if words[0] == 'probes' else 'PREDICTIONS'}",
            )
        record = open_record(Path(words[1]), args.key_file)
        act = _probes if words[0] == "probes" else _score
        return act(args, record, Path(words[2]))
    if len(words) != 2:
        raise InputError(None, "usage: medue verify PRIVATE MODEL --images CLEAN")
    return _white_box(args, open_record(Path(words[0]), args.key_file), Path(words[1]))


def _references(args: argparse.Namespace, record: SegmentationRecord, models: list[str]) -> int:
    _need_images(args)
    files = _model_files(models)
    bars = PhaseBars(enabled=not args.no_progress)
    try:
        calibration, warnings = calibrate_references(
            record, args.images, files, arch=args.arch,
            intensity=Intensity.parse(args.intensity), probes=args.probes,
            progress=lambda done, total: bars("reference models", done, total),
        )  # fmt: skip
    finally:
        bars.close()
    _warn(warnings)
    spread = calibration.responses.mean(axis=1)
    print(f"measured {calibration.count} reference models on {len(calibration.probes.ids)} probe "
          f"images: they call {100 * spread.mean():+.1f} % (SD {100 * spread.std():.1f}) of the "
          "pasted pattern foreground")  # fmt: skip
    print(f"saved in {record.private / 'verify' / 'references'}; now: medue verify PRIVATE MODEL")
    return 0


def _model_files(words: list[str]) -> list[Path]:
    """The models named: files, MONAI bundle folders, or a folder standing for its
    ``.pt``/``.ts``/``.pth`` files."""
    files: list[Path] = []
    for word in map(Path, words):
        if word.is_dir() and not is_bundle(word):
            files += sorted(p for p in word.iterdir() if p.suffix in (".pt", ".ts", ".pth"))
        else:
            files.append(word)
    return files


def _white_box(
    args: argparse.Namespace, record: VerifyRecord | SegmentationRecord, model_path: Path
) -> int:
    if isinstance(record, VerifyRecord):
        _need_images(args)
    else:
        _unused_for_segmentation(args)
    bars = PhaseBars(enabled=not args.no_progress)
    try:
        verdict = check_model(
            record,
            model_path,
            args.images,
            arch=args.arch,
            intensity=Intensity.parse(args.intensity),
            decoys=args.decoys,
            probes=args.probes,
            out=args.out,
            progress=lambda done, total: bars("verify", done, total),
        )
    finally:
        bars.close()
    _show(verdict)
    return 0


def _probes(args: argparse.Namespace, record: VerifyRecord | SegmentationRecord, out: Path) -> int:
    if isinstance(record, SegmentationRecord):
        _unused_for_segmentation(args)
        batch, _ = make_probes(record, None, out)
        print(f"wrote {batch.files} probe files into {batch.folder} (listed in probes.csv)")
        print("give that folder to the suspect's owner; get back the model's label map for each "
              "file, named as the file, in one folder or zip")  # fmt: skip
        print(f"answer sheet (keep private): {batch.sheet}")
        return 0
    _need_images(args)
    batch, warnings = make_probes(record, args.images, out, decoys=args.decoys, probes=args.probes)
    _warn(warnings)
    print(f"wrote {batch.files} probe files into {batch.folder} (listed in probes.csv)")
    print("give that folder to the suspect's owner; get back a CSV with the column `image` and")
    print("the model's score for each class as columns named after the classes (or a `label`)")
    print(f"answer sheet (keep private): {batch.sheet}")
    return 0


def _score(
    args: argparse.Namespace, record: VerifyRecord | SegmentationRecord, predictions: Path
) -> int:
    _show(check_predictions(record, predictions, args.out))
    return 0


def _unused_for_segmentation(args: argparse.Namespace) -> None:
    """A segmentation release is tested on the probes its references were measured on."""
    given = [f"--{name}" for name in ("images", "probes", "decoys") if getattr(args, name)]
    if given:
        print(f"medue: warning: {', '.join(given)} not used: a segmentation release is tested on "
              "the probes its reference models were measured on, against those models "
              "(run `medue verify references` again to change them)")  # fmt: skip


def _need_images(args: argparse.Namespace) -> None:
    if args.images is None:
        raise InputError(None, "give --images CLEAN: clean images the suspect never saw")


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        print(f"medue: warning: {warning}")


def _show(verdict: Verdict) -> None:
    _warn(verdict.warnings)
    result = verdict.result
    print(f"{verdict.suspect}: {decision_line(result)}")
    against = "reference models" if result.null == "references" else "decoy keys"
    count = next(iter(result.tests.values())).decoys
    print(f"{result.probes} probe images, {count} {against}; report: {verdict.html_path}")
    print(f"numbers: {verdict.json_path}")
