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
from medue.methods.patterns import checkerboard
from medue.networks.classifier import build_classifier
from medue.networks.generator import PerturbationGenerator
from medue.prepare import PreparedCase
from medue.saliency import saliency, top_k_mask

FORMAT = "medue-salm/1"
SALM_METHODS = ("salm", "salm-generator", "salm-adversarial", "salm-random", "salm-emn-image")
DEFAULT_TOP_K = 0.1


def changed_fraction(method: str, top_k: float | None) -> float:
    """The share of each image's voxels ``method`` changes (what the budget's PSNR floor counts)."""
    return 1.0 if method == "salm-emn-image" else (top_k or DEFAULT_TOP_K)


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
        sample = _Samples([case], self.spatial_dims, self.num_classes)
        mask = _masks(self.ranker, sample, self.config.fraction)
        if self.method == "salm-random":
            return _random_release(sample, mask, self.config.seed, case.image_id)
        if self.generator is not None:
            return _as_case(_generate(self.generator, sample, [0], mask), case)
        if self.class_noise is not None:
            latent = _Latent(self.class_noise, sample, per_class=True)
            return _as_case(_release(sample, [0], latent, mask), case)
        latent = _Latent([torch.zeros_like(sample.images[0])], sample, per_class=False)
        _descend(self.surrogate, sample, latent, mask, self.config, self.config.unseen_steps)
        return _as_case(_release(sample, [0], latent, mask), case)

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
    samples = _Samples(cases, _spatial_dims(cases), len(config.class_names))
    total = config.saliency_epochs + (0 if config.method == "salm-random" else config.iterations)
    ranker = _classifier(config, samples.spatial_dims)
    optimiser = torch.optim.Adam(ranker.parameters(), lr=config.lr)
    for epoch in range(config.saliency_epochs):
        check_cancel(cancel)
        _train(ranker, optimiser, samples, None, samples.epoch_batches(config, epoch))
        progress("fit", epoch + 1, total)
    masks = _masks(ranker, samples, config.fraction)
    perturber = SALMPerturber(config, samples.spatial_dims, ranker)
    if config.method == "salm-adversarial":
        released = _adversarial(perturber, samples, masks)
    elif config.method == "salm-random":
        released = [_random_release(samples, masks, config.seed, c.image_id, i)
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
    latent = _Latent([torch.zeros_like(image) for image in samples.images], samples, False)
    _descend(
        perturber.ranker, samples, latent, masks, config, config.iterations * config.delta_steps
    )
    perturber.surrogate = perturber.ranker
    noise = _noise_source(None, samples, latent, masks)
    return [_as_case(noise([i]), samples.cases[i]) for i in range(len(samples))]


def _min_min(perturber, samples, masks, progress, cancel, total) -> list[np.ndarray]:
    config = perturber.config
    surrogate = _classifier(config, samples.spatial_dims)
    optimiser = torch.optim.Adam(surrogate.parameters(), lr=config.lr)
    generator = generator_optimiser = None
    if config.method == "salm-generator":
        generator = _generator(samples.spatial_dims, len(config.class_names))
        generator_optimiser = torch.optim.Adam(generator.parameters(), lr=config.lr)
    latent = _Latent.start(samples, config)
    accuracy = []
    for round_index in range(config.iterations):
        check_cancel(cancel)
        batches = samples.epoch_batches(config, 1000 + round_index)[: config.surrogate_steps]
        noise = _noise_source(generator, samples, latent, masks)
        _train(surrogate, optimiser, samples, noise, batches)
        if generator is None:
            _descend(surrogate, samples, latent, masks, config, config.delta_steps)
        else:
            batches = samples.epoch_batches(config, 2000 + round_index)[: config.generator_steps]
            _train_generator(generator, generator_optimiser, surrogate, samples, masks, batches)
        noise = _noise_source(generator, samples, latent, masks)
        accuracy.append(_accuracy(surrogate, samples, noise))
        progress("fit", config.saliency_epochs + round_index + 1, total)
        if accuracy[-1] >= config.stop_accuracy:
            break
    perturber.surrogate, perturber.generator = surrogate, generator
    if config.per_class and generator is None:
        perturber.class_noise = [f.detach() for f in latent.fields]
    perturber.history = {"surrogate_accuracy": accuracy, "rounds": len(accuracy)}
    noise = _noise_source(generator, samples, latent, masks)
    return [_as_case(noise([i]), samples.cases[i]) for i in range(len(samples))]


class _Samples:
    """The cases as tensors ``(1, *spatial)`` with their class index and epsilon."""

    def __init__(self, cases: list[PreparedCase], spatial_dims: int, num_classes: int) -> None:
        self.cases = cases
        self.spatial_dims = spatial_dims
        self.num_classes = num_classes
        squeeze = spatial_dims == 2
        self.images = [torch.from_numpy(c.image[0] if squeeze else c.image)[None] for c in cases]
        self.targets = torch.tensor([int(c.extra["category"]) for c in cases])
        self.eps = torch.tensor([c.budget.epsilon for c in cases], dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.cases)

    def epoch_batches(self, config: SALMConfig, epoch: int) -> list[list[int]]:
        """Shuffled mini-batches of equal-shape samples, the same for a seed and epoch."""
        rng = np.random.default_rng([config.seed, epoch])
        groups: dict[tuple, list[int]] = {}
        for index, image in enumerate(self.images):
            groups.setdefault(tuple(image.shape), []).append(index)
        batches = []
        for members in groups.values():
            order = rng.permutation(members).tolist()
            batches += [
                order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)
            ]
        return [batches[i] for i in rng.permutation(len(batches))]

    def stack(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images = torch.stack([self.images[i] for i in indices])
        eps = self.eps[indices].view(-1, *([1] * (images.dim() - 1)))
        return images, self.targets[indices], eps


class _Latent:
    """The optimised noise in units of epsilon (the release is its sign): one field per image,
    or one per class (as large as the largest image, cropped to each image's shape)."""

    def __init__(self, fields, samples: _Samples, per_class: bool) -> None:
        self.fields, self.samples, self.per_class = fields, samples, per_class

    @classmethod
    def start(cls, samples: _Samples, config: SALMConfig) -> _Latent:
        """Zero per image; per class, half of a texture of its own (``class_texture``), so the
        classes differ from the first step and the shortcut can be told apart locally."""
        if not config.per_class:
            return cls([torch.zeros_like(image) for image in samples.images], samples, False)
        shape = tuple(np.max([tuple(image.shape) for image in samples.images], axis=0))
        fields = [0.5 * class_texture(k, shape) for k in range(samples.num_classes)]
        return cls(fields, samples, True)

    def of(self, index: int) -> torch.Tensor:
        if not self.per_class:
            return self.fields[index]
        image = self.samples.images[index]
        field = self.fields[int(self.samples.targets[index])]
        return field[tuple(slice(0, n) for n in image.shape)]


def class_texture(k: int, shape: tuple[int, ...]) -> torch.Tensor:
    """+-1 checkerboard texture of class ``k`` over ``(1, *spatial)``, the same on every slice:
    periods 2 and 4 voxels in three orientations (diagonal, rows, columns), then their negatives.
    A texture any small filter detects anywhere in the image is the shortcut a classifier learns
    first (Yu et al., "Availability Attacks Create Shortcuts", KDD 2022)."""
    period = 2 if (k // 3) % 2 == 0 else 4
    sign = 1.0 if (k // 6) % 2 == 0 else -1.0
    plane = sign * checkerboard(tuple(shape[-2:]), period, k % 3)
    return torch.from_numpy(np.broadcast_to(plane, shape).astype(np.float32).copy())


def _spatial_dims(cases: list[PreparedCase]) -> int:
    flat = {case.image.shape[0] == 1 for case in cases}
    if len(flat) > 1:
        raise InputError(None, "SALM needs either all 2D images or all 3D volumes, not a mix")
    return 2 if flat.pop() else 3


def _classifier(config: SALMConfig, spatial_dims: int) -> nn.Module:
    return build_classifier(config.arch, spatial_dims, len(config.class_names), config.widen_factor)


def _generator(spatial_dims: int, num_classes: int) -> nn.Module:
    """SALM's noise generator: the image and one constant plane per class in, raw noise out."""
    return PerturbationGenerator(spatial_dims, 1 + num_classes, (16, 32))


def _train(model, optimiser, samples: _Samples, noise, batches: list[list[int]]) -> None:
    """One Adam step per batch on the clean (``noise`` None) or released images."""
    model.train()
    for batch in batches:
        images, targets, _ = samples.stack(batch)
        if noise is not None:
            images = images + noise(batch).detach()
        loss = nn.functional.cross_entropy(model(images), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def _masks(ranker: nn.Module, samples: _Samples, fraction: float) -> list[torch.Tensor]:
    masks = []
    for index in range(len(samples)):
        images, targets, _ = samples.stack([index])
        values = saliency(ranker, images, targets)[0].numpy()
        masks.append(torch.from_numpy(top_k_mask(values, fraction))[None])
    return masks


def _signs(latent: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The released sign: the latent's, else up in the darker half; always inwards at the window
    edges, where the other direction could not be stored."""
    sign = torch.where(image < 0.5, 1.0, -1.0)
    sign = torch.where(latent > 0, 1.0, torch.where(latent < 0, -1.0, sign))
    return torch.where(image <= 0, 1.0, torch.where(image >= 1, -1.0, sign))


def _release(samples: _Samples, batch: list[int], latent: _Latent, masks) -> torch.Tensor:
    """``+-eps`` on the masks of ``batch`` (B, 1, *spatial); gradient straight to the latent."""
    images, _, eps = samples.stack(batch)
    soft = torch.stack([latent.of(i) for i in batch])
    mask = torch.stack([masks[i] for i in batch]).float()
    hard = eps * _signs(soft.detach(), images) * mask
    soft = eps * soft.clamp(-1.0, 1.0) * mask
    return soft + (hard - soft).detach()


def _noise_source(generator, samples, latent, masks):
    """``batch -> released noise``: the loop's latents, or the generator's output."""
    if generator is None:
        return lambda batch: _release(samples, batch, latent, masks)
    return lambda batch: _generate(generator, samples, batch, masks)


def _generate(generator, samples: _Samples, batch, masks) -> torch.Tensor:
    """The generator's released noise for ``batch``: input image + one constant plane per class."""
    images, targets, eps = samples.stack(batch)
    planes = nn.functional.one_hot(targets, samples.num_classes).float()
    planes = planes.view(*planes.shape, *([1] * samples.spatial_dims)).expand(
        -1, -1, *images.shape[2:]
    )
    inputs = torch.cat([images, planes], dim=1)
    pad = [p for size in reversed(images.shape[2:]) for p in (0, (-size) % 2)]
    raw = generator(nn.functional.pad(inputs, pad, mode="replicate"))
    raw = raw[(..., *[slice(0, s) for s in images.shape[2:]])]
    soft = eps * torch.tanh(raw)
    mask = torch.stack([masks[i] for i in batch]).float()
    hard = eps * _signs(soft.detach(), images) * mask
    return soft * mask + (hard - soft * mask).detach()


def _descend(surrogate, samples: _Samples, latent: _Latent, masks, config, steps: int) -> None:
    """``steps`` signed descent steps of the latent on the frozen surrogate's loss, batch by
    batch (Huang et al.'s inner minimisation); the latent stays in [-1, 1]."""
    surrogate.eval()
    fields = latent.fields
    keys = list(fields) if isinstance(fields, dict) else range(len(fields))
    for index_batch in samples.epoch_batches(config, 0):
        for _ in range(steps):
            for key in keys:
                fields[key].requires_grad_(True)
            images, targets, _ = samples.stack(index_batch)
            if config.method == "salm-adversarial":  # towards the next class (Fowl et al.)
                targets = (targets + 1) % samples.num_classes
            noise = _release(samples, index_batch, latent, masks)
            loss = nn.functional.cross_entropy(surrogate(images + noise), targets, reduction="sum")
            grads = torch.autograd.grad(loss, [fields[k] for k in keys], allow_unused=True)
            with torch.no_grad():
                for key, grad in zip(keys, grads, strict=True):
                    value = fields[key].detach()
                    if grad is not None:
                        value = (value - config.step_fraction * grad.sign()).clamp(-1.0, 1.0)
                    fields[key] = value
    surrogate.train()


def _train_generator(generator, optimiser, surrogate, samples, masks, batches) -> None:
    """Generator steps that lower the frozen surrogate's loss on the released images."""
    surrogate.eval()
    for batch in batches:
        images, targets, _ = samples.stack(batch)
        noise = _generate(generator, samples, batch, masks)
        loss = nn.functional.cross_entropy(surrogate(images + noise), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    surrogate.train()


@torch.no_grad()
def _accuracy(model: nn.Module, samples: _Samples, noise) -> float:
    model.eval()
    correct = 0
    for batch in samples.epoch_batches(SALMConfig(), 0):
        images, targets, _ = samples.stack(batch)
        correct += int((model(images + noise(batch)).argmax(1) == targets).sum())
    model.train()
    return correct / len(samples)


def _random_release(samples, masks, seed: int, image_id: str, index: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16)])
    signs = torch.from_numpy(rng.choice([-1.0, 1.0], size=masks[index].shape).astype(np.float32))
    latent = _Latent({index: signs}, samples, per_class=False)
    released = _release(samples, [index], latent, {index: masks[index]})
    return _as_case(released, samples.cases[index])


def _as_case(noise: torch.Tensor, case: PreparedCase) -> np.ndarray:
    return noise.detach().reshape(case.image.shape).numpy().astype(np.float32)


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
        generator = _generator(dims, len(config.class_names))
        generator.load_state_dict(payload["generator"])
        perturber.generator = generator.eval()
    return perturber
