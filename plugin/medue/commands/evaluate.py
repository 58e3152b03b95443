"""Check a protected release: victims trained on it and on the clean original, tested on clean
held-out cases (split by patient), optionally after the attacker's countermeasures.

Results go to OUT: results.json, results.md (table), learning_curves.png (segmentation), and
runs.json, the store of finished runs — run the same command again and finished runs are reused,
not retrained.
Several protected copies (say the default and the robust preset) are evaluated side by side: each
into OUT/<method-preset>/, plus OUT/comparison.md and OUT/countermeasures.png across them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medue.commands.progress import PhaseBars
from medue.errors import InputError
from medue.evaluate.classification import (
    CLASSIFIER_VICTIMS,
    ClassificationSettings,
    evaluate_classification,
)
from medue.evaluate.comparison import evaluate_releases
from medue.evaluate.countermeasures import COUNTERMEASURES
from medue.evaluate.experiment import EvaluationSettings, evaluate_release
from medue.evaluate.victim import ARCHITECTURES
from medue.methods import CLASSIFICATION_METHODS
from medue.release import release_method

VICTIM_CHOICES = (*ARCHITECTURES, "unet3d", *CLASSIFIER_VICTIMS)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("clean", type=Path, help="the original dataset folder")
    parser.add_argument(
        "protected", type=Path, nargs="+",
        help="its protected copy (medue protect output); several are compared side by side",
    )  # fmt: skip
    parser.add_argument("output", type=Path, help="folder for results (reused when re-run)")
    parser.add_argument(
        "--test", type=Path, help="a clean test folder (default: hold out patients of CLEAN)"
    )
    parser.add_argument("--test-fraction", type=float, default=0.25, help="default: 0.25")
    parser.add_argument("--test-cases", help="image ids to test on, comma-separated")
    parser.add_argument(
        "--victims", nargs="+", choices=VICTIM_CHOICES,
        help="default: unet segresnet (segmentation), resnet18 densenet121 (classification)",
    )  # fmt: skip
    parser.add_argument(
        "--countermeasures", nargs="+", choices=[*COUNTERMEASURES, "all"], default=["none"],
        help="attacker's countermeasures (default: none = undefended; all = the whole suite)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    if args.epochs < 1:
        raise InputError(None, "--epochs must be at least 1")
    if any(is_classification_release(path) for path in args.protected):
        return _run_classification(args)
    settings = EvaluationSettings(
        victims=tuple(args.victims or ("unet", "segresnet")),
        countermeasures=_countermeasures(args.countermeasures),
        seeds=tuple(dict.fromkeys(args.seeds)),
        epochs=args.epochs,
        test_fraction=args.test_fraction,
        test_cases=tuple(args.test_cases.split(",")) if args.test_cases else (),
    )
    bars = PhaseBars(enabled=not args.no_progress)
    several = len(args.protected) > 1
    try:
        if several:
            evaluate_releases(args.clean, args.protected, args.output, settings, args.test, bars)
        else:
            evaluate_release(args.clean, args.protected[0], args.output, settings, args.test, bars)
    finally:
        bars.close()
    page = "comparison" if several else "results"
    print((args.output / f"{page}.md").read_text())
    print(f"results: {args.output / f'{page}.json'}")
    return 0


def is_classification_release(path: Path) -> bool:
    """Whether ``path`` is a release of a classification method (its ``release.json`` says so)."""
    method, _ = release_method(path)
    return method in CLASSIFICATION_METHODS


def _run_classification(args: argparse.Namespace) -> int:
    if len(args.protected) > 1:
        raise InputError(None, "classification releases are evaluated one at a time")
    victims = tuple(args.victims or CLASSIFIER_VICTIMS)
    unknown = [v for v in victims if v not in CLASSIFIER_VICTIMS]
    if unknown:
        raise InputError(None, f"classification victims are {', '.join(CLASSIFIER_VICTIMS)}, "
                         f"not {', '.join(unknown)}")  # fmt: skip
    settings = ClassificationSettings(
        victims=victims, countermeasures=_countermeasures(args.countermeasures),
        seeds=tuple(dict.fromkeys(args.seeds)), epochs=args.epochs,
        test_fraction=args.test_fraction,
    )  # fmt: skip
    bars = PhaseBars(enabled=not args.no_progress)
    try:
        evaluate_classification(
            args.clean, args.protected[0], args.test, args.output, settings, bars
        )
    finally:
        bars.close()
    print((args.output / "results.md").read_text())
    print(f"results: {args.output / 'results.json'}")
    return 0


def _countermeasures(names: list[str]) -> tuple[str, ...]:
    """``all`` expands to the whole suite, undefended first; duplicates are dropped."""
    expanded = [c for name in names for c in (COUNTERMEASURES if name == "all" else [name])]
    return tuple(dict.fromkeys(expanded))
