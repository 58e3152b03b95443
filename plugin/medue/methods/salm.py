"""SALM: sparsity-aware unlearnable examples for classification (arXiv 2403.10573).

Two phases (the paper's Figure 1): (1) important-pixel acquisition: a surrogate classifier trained
on the clean images ranks every voxel by the gradient of its loss (``medue.saliency``) and keeps the
top K of each image; (2) error-minimizing noise (Huang et al., "Unlearnable Examples", ICLR 2021)
restricted to that mask, so a victim trained on the release lowers its loss by learning the noise
instead of the images. Variants, one method name each:

- ``salm``: the per-sample signed-gradient loop (min-min). Rounds of: ``surrogate_steps``
  mini-batches of a fresh surrogate trained on the released images, then ``delta_steps`` signed
  descent steps on every image's noise; until the surrogate classifies the released training set
  with accuracy >= ``stop_accuracy``, or ``iterations`` rounds.
- ``salm-generator``: the paper's wording: a generator network (image + class planes -> noise)
  trained min-min against the surrogate in the same rounds; new images take one pass.
- ``salm-adversarial``: error-*maximizing* instead (adversarial poisoning, Fowl et al., NeurIPS
  2021): each image is pushed towards the next class, ``(y + 1) mod C``, on the clean-trained
  ranker, so a victim learns features that point to the wrong class; the same mask and budget.
- ``salm-random``: baseline: random signs in the same mask (what the mask alone does).
- ``salm-emn-image``: baseline: the loop on every voxel (K = 100 %): sample-wise EMN.

What is released is ``+-epsilon`` on every masked voxel and nothing elsewhere: the sign of the
optimised noise (straight-through in training, so the surrogate sees what is written); a voxel at
the bottom of the window goes up and one at the top goes down, so every masked voxel changes in
the stored file and exactly K voxels differ from the original. The budget's PSNR floor counts the
K voxels only (``medue.budget``), so a sparser mask allows a larger epsilon.

Each case is one sample (a 2D image, or a 3D volume with a 3D surrogate); samples of different
shapes are batched apart, never padded together. The class of a case is
``case.extra["category"]``, an index into ``SALMConfig.class_names``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medue.errors import InputError
from medue.io.atomic import atomic_path
from medue.methods.base import (
    CancelToken,
    NeverCancelled,
    ProgressCallback,
    check_cancel,
    config_from_saved,
    no_progress,
)
from medue.methods.names import DEFAULT_TOP_K, changed_fraction
from medue.methods.salm_noise import (
    Latent,
    Samples,
    accuracy_on,
    as_case,
    descend,
    generate,
    noise_source,
    random_release,
    release,
    top_k_masks,
    train_generator,
    train_steps,
)
from medue.networks.classifier import build_classifier
from medue.networks.generator import PerturbationGenerator
from medue.prepare import PreparedCase

FORMAT = "medue-salm/1"


@dataclass
class SALMConfig:
    """Every setting of a SALM fit; saved with the networks and recorded in the manifest."""

    method: str = "salm"
    top_k: float = DEFAULT_TOP_K
    """K as a fraction of each image's voxels (``salm-emn-image``: always 1)."""
    arch: str = "resnet18"
    widen_factor: float = 0.5
    saliency_epochs: int = 8
    iterations: int = 10
    """Min-min rounds; ``FitOptions.iterations``."""
    surrogate_steps: int = 10
    delta_steps: int = 5
    generator_steps: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    step_fraction: float = 0.25
    stop_accuracy: float = 0.99
    unseen_steps: int = 10
    per_class: bool = True
    """One noise field per class, shared by its images (each on its own mask), as Huang et al.'s
    class-wise noise; False: one field per image (their sample-wise noise)."""
    seed: int = 0
    class_names: tuple[str, ...] = ()

    @property
    def fraction(self) -> float:
        return changed_fraction(self.method, self.top_k)


@dataclass
class SALMPerturber:
    """The fitted SALM: saliency surrogate, min-min surrogate or generator, and fitted noise."""

    config: SALMConfig
    spatial_dims: int
    ranker: nn.Module
    surrogate: nn.Module | None = None
    generator: nn.Module | None = None
    class_noise: list[torch.Tensor] | None = None
    fitted: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    class_values: tuple[int, ...] = ()

    @property
    def method(self) -> str:
        return self.config.method

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.config.class_names)

    @property
    def top_k(self) -> float:
        """The share of voxels this perturber changes (what the budget's PSNR floor counts)."""
        return self.config.fraction

    def perturb(self, case: PreparedCase) -> np.ndarray:
        """``+-epsilon`` on the case's top-K voxels, zero elsewhere (float32, (z, y, x))."""
        known = self.fitted.get(case.image_id)
        if known is not None and known[0] == _fingerprint(case, self.config):
            return known[1].copy()
        sample = Samples([case], self.spatial_dims, self.num_classes)
        mask = top_k_masks(self.ranker, sample, self.config.fraction)
        if self.method == "salm-random":
            return random_release(sample, mask, self.config.seed, case.image_id)
        if self.generator is not None:
            return as_case(generate(self.generator, sample, [0], mask), case)
        if self.class_noise is not None:
            latent = Latent(self.class_noise, sample, per_class=True)
            return as_case(release(sample, [0], latent, mask), case)
        latent = Latent([torch.zeros_like(sample.images[0])], sample, per_class=False)
        descend(self.surrogate, sample, latent, mask, self.config, self.config.unseen_steps)
        return as_case(release(sample, [0], latent, mask), case)

    @property
    def num_classes(self) -> int:
        return len(self.config.class_names)

    def describe(self) -> dict:
        return {"format": FORMAT, "config": asdict(self.config), "history": self.history}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        payload = {
            **self.describe(),
            "spatial_dims": self.spatial_dims,
            "ranker": self.ranker.state_dict(),
            "surrogate": self.surrogate.state_dict() if self.surrogate else None,
            "generator": self.generator.state_dict() if self.generator else None,
            "class_noise": self.class_noise,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path


def fit_salm(
    cases: list[PreparedCase],
    config: SALMConfig,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> SALMPerturber:
    """Rank, mask and optimise the noise of ``cases``; raises ``InputError`` for fewer than two
    classes or a mix of 2D images and 3D volumes."""
    cancel = cancel or NeverCancelled()
    started = time.monotonic()
    if len(config.class_names) < 2:
        raise InputError(None, f"SALM needs at least two classes, got {list(config.class_names)}")
    torch.manual_seed(config.seed)
    samples = Samples(cases, _spatial_dims(cases), len(config.class_names))
    total = config.saliency_epochs + (0 if config.method == "salm-random" else config.iterations)
    ranker = _classifier(config, samples.spatial_dims)
    optimiser = torch.optim.Adam(ranker.parameters(), lr=config.lr)
    for epoch in range(config.saliency_epochs):
        check_cancel(cancel)
        train_steps(ranker, optimiser, samples, None, samples.epoch_batches(config, epoch))
        progress("fit", epoch + 1, total)
    masks = top_k_masks(ranker, samples, config.fraction)
    perturber = SALMPerturber(config, samples.spatial_dims, ranker)
    if config.method == "salm-adversarial":
        released = _adversarial(perturber, samples, masks)
    elif config.method == "salm-random":
        released = [random_release(samples, masks, config.seed, c.image_id, i)
                    for i, c in enumerate(cases)]  # fmt: skip
    else:
        released = _min_min(perturber, samples, masks, progress, cancel, total)
    for case, delta in zip(cases, released, strict=True):
        perturber.fitted[case.image_id] = (_fingerprint(case, config), delta)
    perturber.history["fit_seconds"] = round(time.monotonic() - started, 1)
    return perturber


def _adversarial(perturber: SALMPerturber, samples, masks) -> list[np.ndarray]:
    """Targeted signed descent on the frozen clean ranker, ``iterations * delta_steps`` steps."""
    config = perturber.config
    latent = Latent([torch.zeros_like(image) for image in samples.images], samples, False)
    descend(
        perturber.ranker, samples, latent, masks, config, config.iterations * config.delta_steps
    )
    perturber.surrogate = perturber.ranker
    noise = noise_source(None, samples, latent, masks)
    return [as_case(noise([i]), samples.cases[i]) for i in range(len(samples))]


def _min_min(perturber, samples, masks, progress, cancel, total) -> list[np.ndarray]:
    config = perturber.config
    surrogate = _classifier(config, samples.spatial_dims)
    optimiser = torch.optim.Adam(surrogate.parameters(), lr=config.lr)
    generator = generator_optimiser = None
    if config.method == "salm-generator":
        generator = build_generator(samples.spatial_dims, len(config.class_names))
        generator_optimiser = torch.optim.Adam(generator.parameters(), lr=config.lr)
    latent = Latent.start(samples, config)
    accuracy = []
    for round_index in range(config.iterations):
        check_cancel(cancel)
        batches = samples.epoch_batches(config, 1000 + round_index)[: config.surrogate_steps]
        noise = noise_source(generator, samples, latent, masks)
        train_steps(surrogate, optimiser, samples, noise, batches)
        if generator is None:
            descend(surrogate, samples, latent, masks, config, config.delta_steps)
        else:
            batches = samples.epoch_batches(config, 2000 + round_index)[: config.generator_steps]
            train_generator(generator, generator_optimiser, surrogate, samples, masks, batches)
        noise = noise_source(generator, samples, latent, masks)
        accuracy.append(accuracy_on(surrogate, samples, noise, config))
        progress("fit", config.saliency_epochs + round_index + 1, total)
        if accuracy[-1] >= config.stop_accuracy:
            break
    perturber.surrogate, perturber.generator = surrogate, generator
    if config.per_class and generator is None:
        perturber.class_noise = [f.detach() for f in latent.fields]
    perturber.history = {"surrogate_accuracy": accuracy, "rounds": len(accuracy)}
    if accuracy and accuracy[-1] < config.stop_accuracy:
        perturber.history["warning"] = (
            f"the error-minimizing noise did not converge in {len(accuracy)} rounds: the "
            f"surrogate classifies the protected images with accuracy {accuracy[-1]:.2f} (the "
            f"noise stops at {config.stop_accuracy:.2f}), so the noise is not yet a shortcut; "
            "try more --iterations or a stronger preset"
        )
    noise = noise_source(generator, samples, latent, masks)
    return [as_case(noise([i]), samples.cases[i]) for i in range(len(samples))]


def _spatial_dims(cases: list[PreparedCase]) -> int:
    flat = {case.image.shape[0] == 1 for case in cases}
    if len(flat) > 1:
        raise InputError(None, "SALM needs either all 2D images or all 3D volumes, not a mix")
    return 2 if flat.pop() else 3


def _classifier(config: SALMConfig, spatial_dims: int) -> nn.Module:
    return build_classifier(config.arch, spatial_dims, len(config.class_names), config.widen_factor)


def build_generator(spatial_dims: int, num_classes: int) -> nn.Module:
    """SALM's noise generator: the image and one constant plane per class in, raw noise out."""
    return PerturbationGenerator(spatial_dims, 1 + num_classes, (16, 32))


def _fingerprint(case: PreparedCase, config: SALMConfig) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(case.image).tobytes())
    digest.update(
        f"{case.budget.epsilon!r}|{case.extra.get('category')}|{config.fraction}".encode()
    )
    return digest.hexdigest()


def load_salm(path: str | Path) -> SALMPerturber:
    """A SALM perturber saved by ``SALMPerturber.save`` (networks and config; no fitted noise)."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    config = config_from_saved(SALMConfig, payload["config"])
    dims = int(payload["spatial_dims"])
    ranker = _classifier(config, dims)
    ranker.load_state_dict(payload["ranker"])
    perturber = SALMPerturber(config, dims, ranker.eval(), history=payload.get("history", {}))
    if payload.get("surrogate") is not None:
        perturber.surrogate = _classifier(config, dims)
        perturber.surrogate.load_state_dict(payload["surrogate"])
    if payload.get("class_noise") is not None:
        perturber.class_noise = list(payload["class_noise"])
    if payload.get("generator") is not None:
        generator = build_generator(dims, len(config.class_names))
        generator.load_state_dict(payload["generator"])
        perturber.generator = generator.eval()
    return perturber
