"""Arguments shared by ``medue fit`` and ``medue protect``, turned into ``ProtectSettings``."""

from __future__ import annotations

import argparse
from pathlib import Path

from medue.budget import DEFAULT_PRESET, PRESETS, BudgetRequest
from medue.class_datasets import class_names, discover_classified, looks_classified
from medue.commands.info import cases_for
from medue.datasets import Case
from medue.errors import InputError
from medue.intensity import CT_WINDOWS
from medue.job.settings import FIT_VOXELS, ProtectSettings
from medue.methods import DEFAULT_METHOD, METHODS
from medue.methods.names import DEFAULT_CLASSIFICATION_METHOD, DEFAULT_TOP_K
from medue.methods.presence import PRESENCE_METHODS, presence_perturber
from medue.prepare import RoiSpec


def add_protection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("protection")
    group.add_argument(
        "--method", choices=METHODS,
        help=f"default: {DEFAULT_METHOD}; {DEFAULT_CLASSIFICATION_METHOD} for a classification "
        "dataset (a CSV, or one folder per class)",
    )  # fmt: skip
    budget = group.add_mutually_exclusive_group()
    budget.add_argument(
        "--preset", choices=list(PRESETS),
        help=f"how visible, per image, as JND at the reading window: imperceptible < 0.5 at 1x "
        f"and 2x, balanced < 1 at 1x, strong < 2 at 1x, robust < 1 at 1x (default: "
        f"{DEFAULT_PRESET}; docs/METHODS.md, Budget)",
    )  # fmt: skip
    budget.add_argument(
        "--epsilon",
        type=float,
        help="max change per voxel in native units (e.g. 6 = 6 HU on CT), used as given: no "
        "JND ceiling and no PSNR floor (its JND is still measured and reported)",
    )
    group.add_argument("--labels", help="ROI label values, comma-separated (default: any label)")
    group.add_argument("--roi-box", help="ROI box z0,y0,x0,z1,y1,x1 in voxels (instead of labels)")
    group.add_argument(
        "--band-radius", type=int,
        help="contour band radius, voxels (default: 0 for the pattern methods, 3 for the others)",
    )  # fmt: skip
    group.add_argument("--ct-window", choices=list(CT_WINDOWS), default="soft_tissue",
                       help="CT: the window the data is read at; presets hold their JND ceiling "
                       "there (the other clinical windows are reported)")  # fmt: skip
    group.add_argument("--mode", choices=["auto", "2d", "3d"], default="auto",
                       help="2D slices or 3D volumes (auto: by the data)")  # fmt: skip
    group.add_argument(
        "--iterations", type=int,
        help="UMed's most training steps (default 300; fewer when its loss plateaus) or EMN "
        "rounds (10)",
    )  # fmt: skip
    group.add_argument("--seed", type=int, default=0,
                       help="seeds the fitting sample and the fit (with the key)")  # fmt: skip
    group.add_argument(
        "--fit-cases", type=int, metavar="N",
        help="fit the method on N cases drawn from the seed (default: as many as fit in "
        f"{FIT_VOXELS // 2**20} Mi voxels); every case is protected either way",
    )  # fmt: skip
    classify = parser.add_argument_group(
        f"classification datasets (--method {DEFAULT_CLASSIFICATION_METHOD} or salm*)"
    )
    classify.add_argument(
        "--classes", type=Path,
        help="CSV with columns image,label (default: the folder's only CSV, else one sub-folder "
        "per class)",
    )  # fmt: skip
    classify.add_argument(
        "--top-k",
        type=float,
        help=f"share of each image's voxels SALM changes (default {DEFAULT_TOP_K})",
    )
    classify.add_argument(
        "--reference-class", metavar="NAME",
        help=f"{DEFAULT_CLASSIFICATION_METHOD}: the class left unchanged (default: the first in "
        "class order)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def settings_from_args(args: argparse.Namespace) -> ProtectSettings:
    if args.iterations is not None and args.iterations < 1:
        raise InputError(None, "--iterations must be at least 1")
    if args.fit_cases is not None and args.fit_cases < 1:
        raise InputError(None, "--fit-cases must be at least 1")
    if args.band_radius is not None and args.band_radius < 0:
        raise InputError(None, "--band-radius must be 0 or more")
    if args.top_k is not None and not 0 < args.top_k <= 1:
        raise InputError(None, f"--top-k is a share of the voxels in (0, 1], got {args.top_k}")
    preset = None if args.epsilon is not None else (args.preset or DEFAULT_PRESET)
    method = args.method or default_method(args.input, args.classes is not None)
    if args.top_k is not None and method in PRESENCE_METHODS:
        raise InputError(None, f"--top-k is for SALM; {method} changes every pixel")
    if args.reference_class is not None and method not in PRESENCE_METHODS:
        raise InputError(None, f"--reference-class is for --method {DEFAULT_CLASSIFICATION_METHOD}")
    return ProtectSettings(
        method=method,
        roi=RoiSpec(
            label_values=_integers(args.labels, "--labels"),
            box=_integers(args.roi_box, "--roi-box"),
            band_radius=args.band_radius,
        ),
        budget=BudgetRequest(preset=preset, epsilon=args.epsilon),
        ct_window=args.ct_window,
        mode=args.mode,
        iterations=args.iterations,
        seed=args.seed,
        top_k=args.top_k,
        fit_cases=args.fit_cases,
        reference_class=args.reference_class,
    )


def cases_from_args(args: argparse.Namespace, settings: ProtectSettings) -> list[Case]:
    """The cases to protect: a classification dataset for SALM, else segmentation cases."""
    if not settings.classification:
        if args.classes is not None:
            raise InputError(
                args.classes, "--classes is for classification methods (pattern-presence, salm*)"
            )
        if args.top_k is not None:
            raise InputError(None, "--top-k is for classification methods (--method salm*)")
        try:
            return cases_for(args.input)
        except InputError as error:
            if looks_classified(args.input):
                hint = "it looks like a classification dataset (a CSV, or one folder per class)"
                raise InputError(
                    error.source,
                    f"{error.problem}; {hint}: add --method {DEFAULT_CLASSIFICATION_METHOD}",
                ) from None
            raise
    cases = discover_classified(args.input, args.classes)
    if settings.method in PRESENCE_METHODS:  # refused before any folder is made
        presence_perturber(class_names(cases), settings.reference_class)
    return cases


def default_method(folder: Path, class_table: bool = False) -> str:
    """The method when ``--method`` is not given: ``pattern-presence`` for a classification
    dataset (a ``class_table`` given, or a folder that ``looks_classified``), else the
    segmentation default."""
    classified = class_table or looks_classified(folder)
    return DEFAULT_CLASSIFICATION_METHOD if classified else DEFAULT_METHOD


def _integers(text: str | None, option: str) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(None, f"{option} expects comma-separated integers, got {text!r}") from None
