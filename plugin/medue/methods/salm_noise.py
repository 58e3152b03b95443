"""SALM's noise, optimised: the samples, the noise fields and the steps of the min-min game.

The building blocks ``medue.methods.salm`` plays SALM with (arXiv 2403.10573): the cases as
tensors batched by shape (``Samples``), the optimised noise in units of epsilon, one field per image
or per class (``Latent``, class fields started from ``class_texture``), what is released from it
(``release``: ``+-epsilon`` on each image's top-K mask, the sign straight-through), the generator's
version of the same (``generate``), and the steps: surrogate training (``train_steps``), signed
descent of the noise (``descend``, Huang et al., ICLR 2021), generator training.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from medue.methods.patterns import checkerboard
from medue.prepare import PreparedCase
from medue.saliency import saliency, top_k_mask

if TYPE_CHECKING:
    from medue.methods.salm import SALMConfig


class Samples:
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


class Latent:
    """The optimised noise in units of epsilon (the release is its sign): one field per image,
    or one per class (as large as the largest image, cropped to each image's shape)."""

    def __init__(self, fields, samples: Samples, per_class: bool) -> None:
        self.fields, self.samples, self.per_class = fields, samples, per_class

    @classmethod
    def start(cls, samples: Samples, config: SALMConfig) -> Latent:
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


def train_steps(model, optimiser, samples: Samples, noise, batches: list[list[int]]) -> None:
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


def top_k_masks(ranker: nn.Module, samples: Samples, fraction: float) -> list[torch.Tensor]:
    masks = []
    for index in range(len(samples)):
        images, targets, _ = samples.stack([index])
        values = saliency(ranker, images, targets)[0].numpy()
        masks.append(torch.from_numpy(top_k_mask(values, fraction))[None])
    return masks


def released_signs(latent: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The released sign: the latent's, else up in the darker half; always inwards at the window
    edges, where the other direction could not be stored."""
    sign = torch.where(image < 0.5, 1.0, -1.0)
    sign = torch.where(latent > 0, 1.0, torch.where(latent < 0, -1.0, sign))
    return torch.where(image <= 0, 1.0, torch.where(image >= 1, -1.0, sign))


def release(samples: Samples, batch: list[int], latent: Latent, masks) -> torch.Tensor:
    """``+-eps`` on the masks of ``batch`` (B, 1, *spatial); gradient straight to the latent."""
    images, _, eps = samples.stack(batch)
    soft = torch.stack([latent.of(i) for i in batch])
    mask = torch.stack([masks[i] for i in batch]).float()
    hard = eps * released_signs(soft.detach(), images) * mask
    soft = eps * soft.clamp(-1.0, 1.0) * mask
    return soft + (hard - soft).detach()


def noise_source(generator, samples, latent, masks):
    """``batch -> released noise``: the loop's latents, or the generator's output."""
    if generator is None:
        return lambda batch: release(samples, batch, latent, masks)
    return lambda batch: generate(generator, samples, batch, masks)


def generate(generator, samples: Samples, batch, masks) -> torch.Tensor:
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
    hard = eps * released_signs(soft.detach(), images) * mask
    return soft * mask + (hard - soft * mask).detach()


def descend(surrogate, samples: Samples, latent: Latent, masks, config, steps: int) -> None:
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
            noise = release(samples, index_batch, latent, masks)
            loss = nn.functional.cross_entropy(surrogate(images + noise), targets, reduction="sum")
            grads = torch.autograd.grad(loss, [fields[k] for k in keys], allow_unused=True)
            with torch.no_grad():
                for key, grad in zip(keys, grads, strict=True):
                    value = fields[key].detach()
                    if grad is not None:
                        value = (value - config.step_fraction * grad.sign()).clamp(-1.0, 1.0)
                    fields[key] = value
    surrogate.train()


def train_generator(generator, optimiser, surrogate, samples, masks, batches) -> None:
    """Generator steps that lower the frozen surrogate's loss on the released images."""
    surrogate.eval()
    for batch in batches:
        images, targets, _ = samples.stack(batch)
        noise = generate(generator, samples, batch, masks)
        loss = nn.functional.cross_entropy(surrogate(images + noise), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    surrogate.train()


@torch.no_grad()
def accuracy_on(model: nn.Module, samples: Samples, noise, config: SALMConfig) -> float:
    model.eval()
    correct = 0
    for batch in samples.epoch_batches(config, 0):
        images, targets, _ = samples.stack(batch)
        correct += int((model(images + noise(batch)).argmax(1) == targets).sum())
    model.train()
    return correct / len(samples)


def random_release(samples, masks, seed: int, image_id: str, index: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16)])
    signs = torch.from_numpy(rng.choice([-1.0, 1.0], size=masks[index].shape).astype(np.float32))
    latent = Latent({index: signs}, samples, per_class=False)
    released = release(samples, [index], latent, {index: masks[index]})
    return as_case(released, samples.cases[index])


def as_case(noise: torch.Tensor, case: PreparedCase) -> np.ndarray:
    return noise.detach().reshape(case.image.shape).numpy().astype(np.float32)
