"""Fit a protection method by name, and load any saved one.

``fit_method`` picks the method by name; ``load_perturber`` reads any saved one: baselines, fixed
class patterns and class presence are small JSON files, UMed generators and EMN surrogates ``.pt``
files told apart by their ``format``.
The file's content decides, not its suffix, so a file saved under any name loads.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from medue.errors import InputError
from medue.keys import seed_int
from medue.methods import emn, salm, umed
from medue.methods.base import CancelToken, Perturber, ProgressCallback, no_progress
from medue.methods.baselines import BASELINES, BaselinePerturber, load_baseline
from medue.methods.emn import EMNConfig, fit_emn, load_emn
from medue.methods.names import DEFAULT_TOP_K, EMN_METHODS, METHODS, SALM_METHODS
from medue.methods.patterns import PATTERN_METHODS, load_pattern, pattern_perturber
from medue.methods.presence import PRESENCE_METHODS, load_presence, presence_perturber
from medue.methods.salm import SALMConfig, fit_salm, load_salm
from medue.methods.umed import UMedConfig, fit_umed, load_umed
from medue.networks.generator import size_multiple
from medue.prepare import PreparedCase
from medue.robust import ROBUST_TRAINING

LOADERS = {umed.FORMAT: load_umed, emn.FORMAT: load_emn, salm.FORMAT: load_salm}
"""Saved ``.pt`` formats and their loaders."""
UNREADABLE = (OSError, KeyError, TypeError, ValueError, RuntimeError, pickle.UnpicklingError)
"""What reading a file that is not a generator raises (torch and json parsers included)."""


@dataclass(frozen=True)
class FitOptions:
    """Method settings a user may set; None means the method's default.

    ``iterations`` is UMed's generator steps and EMN's and SALM's outer rounds; ``mode`` matters
    to UMed only (EMN always works on 2D slices, SALM on whole images). ``class_names`` and
    ``top_k`` are for the classification methods. ``key`` (32 bytes, ``medue.keys``) seeds every
    random draw of the method: the patterns take it whole, the others an integer seed derived
    from it and ``seed`` by HMAC-SHA256 (``method_seed``); without it ``seed`` is used as is.
    """

    mode: str = "2d"
    iterations: int | None = None
    seed: int = 0
    class_values: tuple[int, ...] = ()
    robust: bool = False  # UMed: train against the attacker's countermeasures; patterns: no-op
    class_names: tuple[str, ...] = ()
    top_k: float | None = None
    key: bytes | None = None
    reference_class: str | None = None  # pattern-presence: the class left unchanged (None: first)

    def method_seed(self, method: str) -> int:
        """The integer seed of ``method``'s draws: derived from the key when there is one."""
        if self.key is None:
            return self.seed
        return seed_int(self.key, f"{method}/seed/{self.seed}")


def fit_method(
    method: str,
    cases: list[PreparedCase],
    options: FitOptions,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Perturber:
    if options.robust and method not in ("umed", *PATTERN_METHODS):
        raise InputError(None, f"the robust preset is for UMed and the patterns, not {method!r}")
    if method in PATTERN_METHODS:
        key = options.key.hex() if options.key is not None else options.seed
        return pattern_perturber(method, key, options.class_values)
    if method in PRESENCE_METHODS:
        key = options.key.hex() if options.key is not None else options.seed
        return presence_perturber(options.class_names, options.reference_class, key, method)
    options = replace(options, seed=options.method_seed(method), key=None)
    if method in BASELINES:
        return BaselinePerturber(method=method, seed=options.seed)
    if method in EMN_METHODS:
        return fit_emn(cases, _emn_config(method, options), progress, cancel)
    if method == "umed":
        return fit_umed(cases, _umed_config(options, cases), progress, cancel)
    if method in SALM_METHODS:
        return fit_salm(cases, _salm_config(method, options), progress, cancel)
    raise InputError(None, f"unknown method {method!r} (choose one of: {', '.join(METHODS)})")


def _umed_config(options: FitOptions, cases: list[PreparedCase]) -> UMedConfig:
    config = UMedConfig(mode=options.mode, seed=options.seed, class_values=options.class_values)
    if options.mode == "3d":
        config.patch, config.batch_size = _patch_3d(cases, config)
    if options.iterations is not None:
        config.iterations = options.iterations
    if options.robust:
        config.robust = ROBUST_TRAINING
    return config


PATCH_3D = (8, 32, 32)
"""(d, h, w) training patch for near-isotropic volumes, in voxels (12 x 31 x 31 mm on a CT at
0.96 x 0.96 x 1.5 mm)."""
STEP_VOXELS_3D = 2**15
"""At most this many voxels per 3D training step (patch voxels x batch): a step's cost is bounded
whatever the volumes' size (0.6 s on one thread of this CPU under load; docs/BENCHMARKS.md §5c).
A 3D voxel costs about three times a 2D one (27 taps against 9), so this is about three quarters
of the work of a 2D step (8 patches of 128 x 128)."""


def _patch_3d(cases: list[PreparedCase], config: UMedConfig) -> tuple[tuple[int, ...], int]:
    """The 3D training patch and batch: ``PATCH_3D``, never larger than the largest volume
    (rounded up to the generators' multiple: padding is wasted work), and as many patches per
    step as ``STEP_VOXELS_3D`` allows, between 1 and the 2D batch."""
    multiple = size_multiple(config.features)
    largest = np.max([case.image.shape for case in cases], axis=0)
    patch = tuple(
        int(min(p, -(-n // multiple) * multiple)) for p, n in zip(PATCH_3D, largest, strict=True)
    )
    batch = int(np.clip(STEP_VOXELS_3D // int(np.prod(patch)), 1, config.batch_size))
    return patch, batch


def _emn_config(method: str, options: FitOptions) -> EMNConfig:
    config = EMNConfig(method=method, seed=options.seed, class_values=options.class_values)
    if options.iterations is not None:
        config.iterations = options.iterations
    return config


def _salm_config(method: str, options: FitOptions) -> SALMConfig:
    config = SALMConfig(method=method, seed=options.seed, class_names=options.class_names)
    config.top_k = options.top_k or DEFAULT_TOP_K
    if options.iterations is not None:
        config.iterations = options.iterations
    return config


def load_perturber(path: str | Path) -> Perturber:
    """Load a saved baseline or pattern (JSON), UMed generator, EMN or SALM surrogate (``.pt``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "generator file does not exist")
    try:
        with path.open("rb") as handle:
            is_json = handle.read(1) == b"{"
        return _load_json(path) if is_json else _load_torch(path)
    except UNREADABLE as error:
        raise InputError(path, f"not a MedUE generator file ({type(error).__name__})") from None


def _load_json(path: Path) -> Perturber:
    data = json.loads(path.read_text())
    if data.get("method") in PRESENCE_METHODS:
        return load_presence(data)
    return load_pattern(data) if data.get("method") in PATTERN_METHODS else load_baseline(path)


def _load_torch(path: Path) -> Perturber:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    loader = LOADERS.get(payload.get("format")) if isinstance(payload, dict) else None
    if loader is None:
        raise ValueError("unknown generator format")
    return loader(path)
