"""UMed: contour- and texture-aware unlearnable perturbations for segmentation datasets.

Two generators (../shared/methods.md, [design] lines): a contour generator built from
central-difference convolutions, whose output is kept to the contour band, and a texture generator
whose output in the ROI interior is clipped by the local texture map:

    delta_c = eps * tanh(G_c(in)) * band
    delta_t = clip(eps * tanh(G_t(in)), -eps * T * interior, +eps * T * interior)

The supports are disjoint, so |delta| <= eps. The sum is rounded to whole storable steps with a
straight-through estimator, so training sees exactly what the written file will hold.

Training is min-min against a surrogate segmenter (CE + Dice): alternately one surrogate step on
the perturbed patches (generators frozen) and one generator step that lowers the same loss
(surrogate frozen). The perturbation becomes the easiest feature to learn; a victim trained on it
learns it instead of the anatomy. The fit runs at most ``iterations`` steps and stops earlier
when the generator-step loss has plateaued (``medue.methods.stopping``); the saved history says
how many steps ran and why it stopped. Release is one generator pass over the ROI's bounding box.

Robust training (``UMedConfig.robust``, the ``robust`` preset; GitHub issue 5): at every step one
attacker countermeasure is drawn (``medue.robust``: blur, median, down-up, re-windowing, 8-bit
export, JPEG) and applied to the perturbed patches before the surrogate sees them, in both the
surrogate and the generator step (expectation over transformation). The perturbation is then
trained to stay the easiest feature *after* the attacker's preprocessing. Geometric transforms
are left out: the generator is fully convolutional, so its pattern already moves with the anatomy.

Data-parallel training (under torchrun, ``medue.distributed``): the generators and the surrogate
are each wrapped in ``DistributedDataParallel`` for the step that trains them; each rank draws
its patches from its own shard of the fitting cases (``cases[rank::world]``, its own patch stream
seeded ``(seed, rank)``) in batches of ``batch_size / world``, and DDP averages the gradients, so
the ranks together take the single-process batch and keep identical weights. The saved
generator holds the plain modules' weights: the same format as a single-process fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from medue import distributed
from medue.io.atomic import atomic_path
from medue.methods.base import (
    CancelToken,
    NeverCancelled,
    ProgressCallback,
    check_cancel,
    config_from_saved,
    no_progress,
    report_note,
)
from medue.methods.patches import key_tile, sample_batch
from medue.methods.stopping import PlateauRule, maximum_reason
from medue.methods.umed_tensors import (
    batch_tensors,
    bounding_box,
    case_tensors,
    to_numpy_layout,
)
from medue.networks.generator import PerturbationGenerator
from medue.networks.surrogate import build_surrogate, segmentation_loss
from medue.prepare import PreparedCase
from medue.robust import GEOMETRIC, RandomCountermeasure

FORMAT = "medue-umed/1"


@dataclass
class UMedConfig:
    """Every setting of a UMed fit; all of it goes into the saved generator and the manifest."""

    mode: str = "2d"
    patch: tuple[int, ...] = (1, 128, 128)
    iterations: int = 300
    batch_size: int = 8
    lr_generator: float = 1e-3
    lr_surrogate: float = 1e-3
    theta: float = 0.7
    features: tuple[int, ...] = (16, 32, 64)
    use_key: bool = True
    key_gain: float = 2.0
    seed: int = 0
    class_values: tuple[int, ...] = ()
    robust: tuple[str, ...] = ()  # medue.robust countermeasures, one drawn per step; () = none
    # plateau rule on the generator-step loss (medue.methods.stopping); ``iterations`` is the most
    stop_window: int = 50  # steps per window; 0: always run ``iterations`` steps
    stop_tolerance: float = 0.05  # relative improvement over the best window that counts
    stop_patience: int = 2  # windows in a row without one that stop the fit
    stop_min_steps: int = 100

    @property
    def spatial_dims(self) -> int:
        return 2 if self.mode == "2d" else 3

    @property
    def plateau(self) -> PlateauRule:
        return PlateauRule(
            self.stop_window, self.stop_tolerance, self.stop_patience, self.stop_min_steps
        )


@dataclass
class UMedPerturber:
    """Trained UMed generators: ``perturb`` is one forward pass over a case's ROI region."""

    config: UMedConfig
    num_classes: int
    contour: PerturbationGenerator
    texture: PerturbationGenerator
    tile: np.ndarray
    history: dict = field(default_factory=dict)
    method: str = "umed"

    @property
    def class_values(self) -> tuple[int, ...]:
        return tuple(self.config.class_values)

    def perturb(self, case: PreparedCase) -> np.ndarray:
        delta = np.zeros(case.image.shape, dtype=np.float32)
        box = bounding_box(case.allowed, margin=2 * self.contour.size_multiple)
        if box is None:
            return delta
        region = tuple(slice(lo, hi) for lo, hi in box)
        inputs = case_tensors(case, region, self.tile, self.config, self.num_classes)
        with torch.no_grad():
            raw = self._raw_maps(inputs["network_input"])
            delta[region] = to_numpy_layout(
                compose(raw[:, :1], raw[:, 1:], inputs, self.config),
                self.config.spatial_dims,
            )
        return delta

    def _raw_maps(self, network_input: torch.Tensor) -> torch.Tensor:
        def predictor(x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.contour(x), self.texture(x)], dim=1)

        roi = self.config.patch
        if self.config.spatial_dims == 2:  # whole slices in one pass: no overlapping windows
            multiple = self.contour.size_multiple
            roi = tuple(-(-n // multiple) * multiple for n in network_input.shape[2:])
        self.contour.eval()
        self.texture.eval()
        return sliding_window_inference(network_input, roi, 8, predictor, overlap=0.25)

    def describe(self) -> dict:
        return {"method": self.method, "config": asdict(self.config), "history": self.history}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        payload = {
            "format": FORMAT,
            "config": asdict(self.config),
            "num_classes": self.num_classes,
            "contour": self.contour.state_dict(),
            "texture": self.texture.state_dict(),
            "tile": torch.from_numpy(self.tile),
            "history": self.history,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path


def load_umed(path: str | Path) -> UMedPerturber:
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    config = config_from_saved(UMedConfig, payload["config"])
    contour, texture = _build_generators(config, payload["num_classes"])
    contour.load_state_dict(payload["contour"])
    texture.load_state_dict(payload["texture"])
    return UMedPerturber(
        config,
        payload["num_classes"],
        contour,
        texture,
        payload["tile"].numpy(),
        payload["history"],
    )


def fit_umed(
    cases: list[PreparedCase],
    config: UMedConfig,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> UMedPerturber:
    """Train the generators min-min against a fresh surrogate on ``cases``; in a torchrun group,
    data-parallel on this rank's shard of ``cases`` (module docstring)."""
    cancel = cancel or NeverCancelled()
    torch.manual_seed(config.seed)
    num_classes = max(int(case.classes.max()) for case in cases) + 1  # over every rank's cases
    contour, texture = _build_generators(config, num_classes)
    surrogate = build_surrogate(config.spatial_dims, num_classes)
    tile = key_tile(config.seed, config.spatial_dims, num_classes)
    perturber = UMedPerturber(config, num_classes, contour, texture, tile)
    trainer = _MinMinTrainer(perturber, surrogate)
    ranks = distributed.ranks()
    if ranks.world > 1:
        cases = ranks.shard(cases) or [cases[ranks.rank % len(cases)]]
    rng = np.random.default_rng(config.seed if ranks.world == 1 else [config.seed, ranks.rank])
    batch_size = max(1, -(-config.batch_size // ranks.world))
    started, stopped, step = time.monotonic(), None, 0
    for step in range(1, config.iterations + 1):
        check_cancel(cancel)
        batch = sample_batch(cases, config.patch, batch_size, tile, rng)
        trainer.step(batch_tensors(batch, config, num_classes))
        if config.plateau.due(step):  # every rank decides on the losses of all: same stop
            losses = np.mean(distributed.gather(trainer.generator_losses), axis=0)
            stopped = config.plateau.reason(losses)
        progress("fit", step, step if stopped else config.iterations)
        if stopped:
            break
    seconds, stopped = time.monotonic() - started, stopped or maximum_reason(step)
    report_note(progress, "fit", f"{step} of at most {config.iterations} steps in "
                f"{seconds:.0f} s; {stopped}")  # fmt: skip
    perturber.history = trainer.summary(seconds) | {"steps": step, "stopped": stopped}
    return perturber


class _MinMinTrainer:
    """One surrogate step on perturbed patches, then one generator step against it."""

    def __init__(self, perturber: UMedPerturber, surrogate: torch.nn.Module) -> None:
        self.perturber = perturber
        self.surrogate = surrogate
        # trained through these (DDP in a torchrun group: gradients averaged across ranks)
        self.train_contour = distributed.wrap(perturber.contour)
        self.train_texture = distributed.wrap(perturber.texture)
        self.train_surrogate = distributed.wrap(surrogate)
        generators = [*perturber.contour.parameters(), *perturber.texture.parameters()]
        config = perturber.config
        self.opt_generator = torch.optim.Adam(generators, lr=config.lr_generator)
        self.opt_surrogate = torch.optim.Adam(surrogate.parameters(), lr=config.lr_surrogate)
        self.loss = segmentation_loss()
        self.surrogate_losses: list[float] = []
        self.generator_losses: list[float] = []
        self.attacks = _attacks(config.robust)
        self.attack_generator = torch.Generator().manual_seed(config.seed + 1)

    def _attack(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """This step's countermeasure (the same for the surrogate and the generator step)."""
        if self.attacks is None:
            return lambda x: x
        return self.attacks.sample(self.attack_generator).apply

    def _delta(self, inputs: dict, train: bool = False) -> torch.Tensor:
        """The perturbation; through the DDP wrappers when the generators train on it."""
        network_input = inputs["network_input"]
        contour = self.train_contour if train else self.perturber.contour
        texture = self.train_texture if train else self.perturber.texture
        raw_c = contour(network_input)
        raw_t = texture(network_input)
        return compose(raw_c, raw_t, inputs, self.perturber.config)

    def step(self, inputs: dict) -> None:
        """One surrogate step, then one generator step; returns nothing, appends both losses.

        The generators' output is computed once, with its graph: the surrogate step reads it
        detached, and the generator step back-propagates through it. The generators do not change
        between the two steps (and have no batch statistics), so this is the same perturbation
        as a second forward pass would give, at the cost of one generator pass instead of two.
        """
        image, target = inputs["image"], inputs["classes"]
        self.perturber.contour.train()
        self.perturber.texture.train()
        attack = self._attack()
        delta = self._delta(inputs, train=True)
        self._set_trainable(self.surrogate.parameters(), True)
        self.surrogate.train()
        self.opt_surrogate.zero_grad()
        loss = self.loss(self.train_surrogate(attack(image + delta.detach())), target)
        loss.backward()
        self.opt_surrogate.step()
        self.surrogate_losses.append(loss.item())

        self._set_trainable(self.surrogate.parameters(), False)
        self.opt_generator.zero_grad()
        loss = self.loss(self.surrogate(attack(image + delta)), target)
        loss.backward()
        self.opt_generator.step()
        self.generator_losses.append(loss.item())

    @staticmethod
    def _set_trainable(parameters, flag: bool) -> None:
        for parameter in parameters:
            parameter.requires_grad_(flag)

    def summary(self, seconds: float) -> dict:
        tail = max(1, len(self.surrogate_losses) // 10)
        return {
            "seconds": round(seconds, 1),
            "final_surrogate_loss": float(np.mean(self.surrogate_losses[-tail:])),
            "final_generator_loss": float(np.mean(self.generator_losses[-tail:])),
            "surrogate_loss_curve": [round(v, 4) for v in self.surrogate_losses[::10]],
            "generator_loss_curve": [round(v, 4) for v in self.generator_losses[::10]],
        }


def _attacks(names: tuple[str, ...]) -> RandomCountermeasure | None:
    moving = [name for name in names if name in GEOMETRIC]
    if moving:
        raise ValueError(f"robust UMed training takes intensity countermeasures only, not {moving}")
    return RandomCountermeasure(names) if names else None


def compose(raw_c: torch.Tensor, raw_t: torch.Tensor, inputs: dict, config: UMedConfig):
    """Budgeted, masked, storable perturbation from the two raw generator maps.

    The class key, scaled by ``key_gain``, is added to both raw maps: the generators learn a
    correction to a class-wise pattern instead of starting from nothing (docs/METHODS.md). The
    texture bound never drops below one storable step, or the interior would round to zero.
    """
    shape = (-1,) + (1,) * (config.spatial_dims + 1)
    eps = inputs["epsilon"].view(shape)
    step = inputs["step"].view(shape)
    prior = config.key_gain * inputs["key"] if config.use_key else 0.0
    delta_contour = eps * torch.tanh(raw_c + prior) * inputs["band"]
    bound = torch.maximum(eps * inputs["texture"], torch.minimum(step, eps)) * inputs["interior"]
    delta_texture = torch.clamp(eps * torch.tanh(raw_t + prior), -bound, bound)
    return quantise_ste(delta_contour + delta_texture, eps, step)


def quantise_ste(delta: torch.Tensor, eps: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Round to whole storable steps inside the budget; gradients pass straight through."""
    has_step = step > 0
    safe_step = torch.where(has_step, step, torch.ones_like(step))
    levels = torch.floor(eps / safe_step + 1e-6)
    rounded = torch.clamp(torch.round(delta / safe_step), -levels, levels) * safe_step
    quantised = torch.where(has_step, rounded, delta)
    return delta + (quantised - delta).detach()


def _build_generators(config: UMedConfig, num_classes: int):
    in_channels = 1 + (num_classes - 1) + 1 + int(config.use_key)
    contour = PerturbationGenerator(
        config.spatial_dims, in_channels, config.features, central_difference=config.theta
    )
    texture = PerturbationGenerator(config.spatial_dims, in_channels, config.features)
    return contour, texture
