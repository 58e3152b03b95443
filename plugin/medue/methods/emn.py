"""Sample-wise error-minimizing noise (EMN): the "Unlearnable Examples" baseline, for segmentation.

Huang et al., ICLR 2021: each training sample i gets its own delta_i, chosen to make the sample
*easier* for a network (min-min, the opposite of an adversarial example), so a victim trained on
the protected copy lowers its loss by learning the noise instead of the content. It is the
reference every unlearnable-example benchmark sets a new method beside, hence a MedUE baseline.

Recipe here (segmentation, CE + Dice, a fresh ``build_surrogate`` UNet):

    delta_i = 0 for every sample
    repeat ``iterations`` rounds, or until the surrogate's train loss < ``stop_loss``:
        ``surrogate_steps`` mini-batches of surrogate training on x + delta
        surrogate frozen: ``delta_steps`` signed-gradient *descent* steps on every delta_i
            (step ``step_fraction * eps``), then projection: |delta| <= eps, zero outside the
            region, x + delta in [0, 1]

The optimised variable is a float latent; the network always sees it rounded to whole storable
steps (``quantise_ste``, straight-through gradient), so what is optimised is what is written.
The released delta is that rounded value: within eps, zero outside the region (rounding can move
x + delta up to half a step past [0, 1], which the file allows: values are never clipped there).

2D only: every z slice of every case is one sample, also for 3D volumes (``FitOptions.mode`` is
ignored), because EMN's point is a per-sample delta and a slice surrogate is what fits the CPU
budget. Slices of different in-plane shapes are batched apart, never padded together.

Region: ``emn`` touches only ``case.allowed`` (band | interior), like UMed; ``emn-image`` the
whole image (see ``baselines.region_mask``).

Release: ``perturb`` returns the fitted delta of a case seen in fit (same image_id, and the same
image, region and budget). Any other case, including every case of a perturber loaded from disk
(the saved file holds the config and surrogate weights, not the per-image deltas), gets its delta
by ``unseen_steps`` signed descent steps against the frozen surrogate: per-image optimisation,
slower than a generator pass, and a weaker version of the fitted noise (the surrogate never
trained on it).
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medue.io.atomic import atomic_path
from medue.methods.base import (
    CancelToken,
    NeverCancelled,
    ProgressCallback,
    check_cancel,
    config_from_saved,
    no_progress,
)
from medue.methods.baselines import region_mask, region_of
from medue.methods.umed import quantise_ste
from medue.networks.surrogate import build_surrogate, segmentation_loss
from medue.prepare import PreparedCase

FORMAT = "medue-emn/1"
SIZE_MULTIPLE = 4
"""The surrogate UNet halves a slice twice; slices are zero-padded to a multiple of this."""

Sample = tuple[int, int]
"""(case index, z): one 2D sample."""


@dataclass
class EMNConfig:
    """Every setting of an EMN fit; saved with the surrogate and recorded in the manifest.

    Defaults: the MNI152 benchmark (108 slices of 192x160) in about a minute on an idle 2-core
    CPU (2 rounds measured at 12.5 s); the cost is the delta steps, every slice each step.
    """

    method: str = "emn"
    iterations: int = 10
    """Outer rounds (surrogate training, then delta updates); ``FitOptions.iterations``."""
    surrogate_steps: int = 10
    delta_steps: int = 5
    batch_size: int = 16
    lr_surrogate: float = 1e-3
    step_fraction: float = 0.25
    """Signed step size as a fraction of eps (eps / 4): one round can cross the whole budget."""
    stop_loss: float = 0.05
    """Stop early once a round's mean surrogate train loss falls below this."""
    unseen_steps: int = 10
    """Descent steps for a case not seen in fit."""
    seed: int = 0
    class_values: tuple[int, ...] = ()

    @property
    def region(self) -> str:
        return region_of(self.method)


@dataclass
class _Fitted:
    """A delta from fit, valid only for the very image, region and budget it was fitted on."""

    fingerprint: str
    delta: np.ndarray


@dataclass
class EMNPerturber:
    """A trained EMN surrogate plus the fitted per-image deltas (the deltas are never saved)."""

    config: EMNConfig
    num_classes: int
    surrogate: nn.Module
    fitted: dict[str, _Fitted] = field(default_factory=dict)
    history: dict = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.config.method

    @property
    def region(self) -> str:
        return self.config.region

    @property
    def class_values(self) -> tuple[int, ...]:
        return tuple(self.config.class_values)

    def perturb(self, case: PreparedCase) -> np.ndarray:
        """The fitted delta for a case seen in fit; otherwise optimised against the surrogate."""
        known = self.fitted.get(case.image_id)
        if known is not None and known.fingerprint == _fingerprint(case, self.region):
            return known.delta.copy()
        slices = _Slices([case], self.region)
        _descend(self.surrogate, slices, self.config, self.config.unseen_steps)
        return slices.released(0)

    def surrogate_loss(self, case: PreparedCase, delta: np.ndarray) -> float:
        """Mean CE + Dice of the surrogate on ``case.image + delta`` (what EMN minimises)."""
        slices = _Slices([case], self.region)
        slices.delta[0] = torch.from_numpy(np.asarray(delta, np.float32)).unsqueeze(1)
        loss, total = segmentation_loss(), 0.0
        self.surrogate.eval()
        with torch.no_grad():
            for chunk in slices.chunks(self.config.batch_size, perturbable_only=False):
                batch = slices.batch(chunk)
                logits = _segment(self.surrogate, batch["image"] + batch["delta"])
                total += loss(logits, batch["classes"]).item() * len(chunk)
        return total / len(slices.samples)

    def describe(self) -> dict:
        return {
            "method": self.method,
            "region": self.region,
            "config": asdict(self.config),
            "history": self.history,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        payload = {
            "format": FORMAT,
            "config": asdict(self.config),
            "num_classes": self.num_classes,
            "surrogate": self.surrogate.state_dict(),
            "history": self.history,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path


def load_emn(path: str | Path) -> EMNPerturber:
    """A saved EMN: surrogate only, so every image it protects is optimised per image."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT:
        raise ValueError(f"not an EMN file (format {payload.get('format')!r})")
    config = config_from_saved(EMNConfig, payload["config"])
    surrogate = build_surrogate(2, payload["num_classes"])
    surrogate.load_state_dict(payload["surrogate"])
    return EMNPerturber(config, payload["num_classes"], surrogate, history=payload["history"])


def fit_emn(
    cases: list[PreparedCase],
    config: EMNConfig,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> EMNPerturber:
    """Min-min: alternate surrogate training on x + delta and delta descent against it."""
    cancel = cancel or NeverCancelled()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    num_classes = max(int(case.classes.max()) for case in cases) + 1
    surrogate = build_surrogate(2, num_classes)
    slices = _Slices(cases, config.region)
    optimiser = torch.optim.Adam(surrogate.parameters(), lr=config.lr_surrogate)
    total = config.iterations * (config.surrogate_steps + config.delta_steps)
    ticks = iter(range(1, total + 1))

    def tick() -> None:
        progress("fit", next(ticks), total)

    started = time.monotonic()
    curves: dict[str, list[float]] = {"surrogate": [], "delta": []}
    for _ in range(config.iterations):
        curves["surrogate"].append(
            _train_surrogate(surrogate, optimiser, slices, config, rng, cancel, tick)
        )
        if curves["surrogate"][-1] < config.stop_loss:
            break
        curves["delta"].append(
            _descend(surrogate, slices, config, config.delta_steps, cancel, tick)
        )
    progress("fit", total, total)
    fitted = {
        case.image_id: _Fitted(_fingerprint(case, config.region), slices.released(index))
        for index, case in enumerate(cases)
    }
    history = _history(curves, config, time.monotonic() - started)
    return EMNPerturber(config, num_classes, surrogate, fitted, history)


def _train_surrogate(
    surrogate: nn.Module,
    optimiser: torch.optim.Optimizer,
    slices: _Slices,
    config: EMNConfig,
    rng: np.random.Generator,
    cancel: CancelToken,
    tick: Callable[[], None],
) -> float:
    """``surrogate_steps`` mini-batches on x + rounded delta; returns their mean loss."""
    loss_fn, losses = segmentation_loss(), []
    surrogate.train()
    for _ in range(config.surrogate_steps):
        check_cancel(cancel)
        batch = slices.batch(slices.random_batch(rng, config.batch_size))
        optimiser.zero_grad()
        loss = loss_fn(_segment(surrogate, _perturbed(batch, batch["delta"])), batch["classes"])
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        tick()
    return float(np.mean(losses))


def _descend(
    surrogate: nn.Module,
    slices: _Slices,
    config: EMNConfig,
    steps: int,
    cancel: CancelToken | None = None,
    tick: Callable[[], None] = lambda: None,
) -> float:
    """``steps`` signed descent steps on every perturbable slice's delta, surrogate frozen.

    Returns the mean loss seen in the last step (before its update), for the history.
    """
    cancel = cancel or NeverCancelled()
    loss_fn, chunks = segmentation_loss(), slices.chunks(config.batch_size)
    last: list[tuple[float, int]] = []
    with _frozen(surrogate):
        for _ in range(steps):
            last = []
            for chunk in chunks:
                check_cancel(cancel)
                batch = slices.batch(chunk)
                delta, loss = _signed_step(surrogate, loss_fn, batch, config.step_fraction)
                slices.store(chunk, delta)
                last.append((loss, len(chunk)))
            tick()
    count = sum(n for _, n in last)
    return sum(loss * n for loss, n in last) / count if count else float("nan")


def _signed_step(surrogate: nn.Module, loss_fn: nn.Module, batch: dict, fraction: float):
    """One step *down* the loss (error-minimizing), then back into the allowed set."""
    delta = batch["delta"].clone().requires_grad_(True)
    loss = loss_fn(_segment(surrogate, _perturbed(batch, delta)), batch["classes"])
    (grad,) = torch.autograd.grad(loss, delta)
    stepped = delta.detach() - fraction * batch["eps"] * grad.sign()
    return _project(stepped, batch), loss.item()


def _project(delta: torch.Tensor, batch: dict) -> torch.Tensor:
    """|delta| <= eps, zero outside the region, x + delta in [0, 1]."""
    delta = torch.clamp(delta, -batch["eps"], batch["eps"]) * batch["mask"]
    return torch.clamp(batch["image"] + delta, 0.0, 1.0) - batch["image"]


def _perturbed(batch: dict, delta: torch.Tensor) -> torch.Tensor:
    """x + delta as it will be stored: rounded to whole steps, gradient straight through."""
    return batch["image"] + quantise_ste(delta, batch["eps"], batch["step"])


def _segment(surrogate: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Surrogate logits for (B, 1, h, w) slices of any size (padded, then cropped back)."""
    height, width = image.shape[-2:]
    padding = (0, -width % SIZE_MULTIPLE, 0, -height % SIZE_MULTIPLE)
    return surrogate(nn.functional.pad(image, padding))[..., :height, :width]


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Eval mode, no parameter gradients: only the deltas move."""
    module.eval()
    flags = [p.requires_grad for p in module.parameters()]
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)


class _Slices:
    """Every z slice of the cases as one sample, with its latent (unrounded) delta.

    Tensors are kept per case as (z, 1, h, w); a batch stacks slices of one in-plane shape.
    """

    def __init__(self, cases: Sequence[PreparedCase], region: str) -> None:
        def per_slice(array: np.ndarray, dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array, dtype=dtype)).unsqueeze(1)

        self.image = [per_slice(case.image, np.float32) for case in cases]
        self.classes = [per_slice(case.classes, np.int64) for case in cases]
        self.mask = [per_slice(region_mask(case, region), np.float32) for case in cases]
        self.eps = [float(case.budget.epsilon) for case in cases]
        self.step = [float(case.budget.step) for case in cases]
        self.delta = [torch.zeros_like(image) for image in self.image]
        self.samples: list[Sample] = [(i, z) for i, image in enumerate(self.image)
                                      for z in range(len(image))]  # fmt: skip
        self.by_shape: dict[tuple[int, ...], list[Sample]] = defaultdict(list)
        for sample in self.samples:
            self.by_shape[self._shape(sample)].append(sample)

    def _shape(self, sample: Sample) -> tuple[int, ...]:
        return tuple(self.image[sample[0]].shape[2:])

    def random_batch(self, rng: np.random.Generator, size: int) -> list[Sample]:
        """Up to ``size`` distinct slices sharing the shape of one slice drawn at random."""
        group = self.by_shape[self._shape(self.samples[rng.integers(len(self.samples))])]
        picks = rng.choice(len(group), size=min(size, len(group)), replace=False)
        return [group[int(p)] for p in picks]

    def chunks(self, size: int, perturbable_only: bool = True) -> list[list[Sample]]:
        """Fixed-order batches of same-shape slices; by default only slices the region touches."""
        out = []
        for group in self.by_shape.values():
            kept = [s for s in group if not perturbable_only or self.mask[s[0]][s[1]].any()]
            out += [kept[start : start + size] for start in range(0, len(kept), size)]
        return out

    def batch(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        def stack(arrays: list[torch.Tensor]) -> torch.Tensor:
            return torch.stack([arrays[i][z] for i, z in samples])

        def scalars(values: list[float]) -> torch.Tensor:
            return torch.tensor([values[i] for i, _ in samples]).view(-1, 1, 1, 1)

        return {
            "image": stack(self.image),
            "classes": stack(self.classes),
            "mask": stack(self.mask),
            "delta": stack(self.delta),
            "eps": scalars(self.eps),
            "step": scalars(self.step),
        }

    def store(self, samples: Sequence[Sample], delta: torch.Tensor) -> None:
        for (i, z), value in zip(samples, delta, strict=True):
            self.delta[i][z] = value

    def released(self, index: int) -> np.ndarray:
        """Case ``index``'s delta as written: whole steps within eps, (z, y, x) float32."""
        eps = torch.tensor(self.eps[index])
        step = torch.tensor(self.step[index])
        rounded = quantise_ste(self.delta[index], eps, step) * self.mask[index]
        return rounded[:, 0].numpy().astype(np.float32)


def _fingerprint(case: PreparedCase, region: str) -> str:
    """What a fitted delta depends on: the image, its region and its budget."""
    digest = hashlib.sha256()
    for array in (case.image, region_mask(case, region)):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(f"{case.budget.epsilon!r} {case.budget.step!r}".encode())
    return digest.hexdigest()


def _history(curves: dict[str, list[float]], config: EMNConfig, seconds: float) -> dict:
    surrogate = curves["surrogate"]
    return {
        "seconds": round(seconds, 1),
        "rounds": len(surrogate),
        "stopped_early": len(surrogate) < config.iterations,
        "final_surrogate_loss": surrogate[-1] if surrogate else None,
        "surrogate_loss_curve": [round(v, 4) for v in surrogate],
        "delta_loss_curve": [round(v, 4) for v in curves["delta"]],
    }
