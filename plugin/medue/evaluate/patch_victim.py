"""The victim for large 2D images: trained by steps on random patches, scored every N steps.

Epochs do not compare across datasets (an epoch of 20 fundus photographs is not an epoch of 2,000
CT slices), and whole 565x584 images do not fit a CPU batch. So this victim trains by optimiser
steps on random square patches with random flips, the usual recipe for retinal-vessel networks
(e.g. Ronneberger et al., MICCAI 2015, trained U-Net on tiles of the ISBI cell images), and scores
whole clean test images after every ``eval_every`` steps (the networks are fully convolutional).
The two attackers of ``medue.evaluate.victim`` come from the same run: the one with only the
release keeps the model that scores best on its validation images (held out of the training
source by ``hold_out``), the one who early-stops on clean data the best evaluation on the test
images. ``test_mask`` restricts scoring to a region (DRIVE's field of view).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from monai.losses import DiceCELoss

from medue.evaluate.countermeasures import get_countermeasure
from medue.evaluate.slices import SliceSet
from medue.evaluate.victim import (
    VictimConfig,
    VictimResult,
    _random_flips,
    _seed_everything,
    _tensor,
    build_network,
    evaluate,
    hold_out,
    image_of,
)


@dataclass(frozen=True)
class StepSchedule:
    """How long and on what the patch victim trains, and how often it is scored."""

    steps: int = 1500
    eval_every: int = 100
    patch: int = 64  # voxels, square; a multiple of 8 for the victims' down-samplings
    batch_size: int = 8


def train_patch_victim(
    train: SliceSet,
    test: SliceSet,
    config: VictimConfig,
    schedule: StepSchedule,
    test_mask: np.ndarray | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    on_evaluation: Callable[[int, torch.nn.Module], None] | None = None,
    initial_state: dict | None = None,
) -> VictimResult:
    """Train from scratch (Adam, Dice + CE) on random ``schedule.patch`` patches of ``train``.

    Returns a ``VictimResult`` whose curves have one point per evaluation (``eval_steps`` gives
    the step of each). ``config.epochs`` is ignored; ``config.validation_fraction`` of the
    training images are held out for the release-only attacker. ``test_mask`` (N, H, W) bool, if
    given, limits test scoring to it. Deterministic for ``config.seed`` on one machine.
    ``on_evaluation(step, model)`` is called at every evaluation (e.g. to keep the models each
    attacker would keep). ``initial_state`` (a state dict of the same network) starts from a
    model trained elsewhere: the attacker who fine-tunes.
    """
    train, validation = hold_out(train, config.validation_fraction, config.seed)
    countermeasure = get_countermeasure(config.countermeasure)
    images = _tensor(countermeasure.preprocess(train.images))
    if validation is not None:
        validation = replace(validation, images=countermeasure.preprocess(validation.images))
    labels = torch.from_numpy(train.labels)
    hook = countermeasure.batch_hook()
    _seed_everything(config.seed)
    model = build_network(config.architecture, config.num_classes)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    patches = torch.Generator().manual_seed(config.seed)
    flips = torch.Generator().manual_seed(config.seed + 1)
    hook_generator = torch.Generator().manual_seed(config.seed + 2)
    start = time.perf_counter()
    scores, losses, validated, steps_done, running = [], [], [], [], []
    for step in range(1, schedule.steps + 1):
        model.train()
        batch, target = _patches(images, labels, schedule, patches)
        batch, target = _random_flips(batch, target, flips)
        if hook is not None:
            batch, target = hook(model, loss_fn, batch, target, hook_generator)
        optimiser.zero_grad()
        loss = loss_fn(model(batch), target)
        loss.backward()
        optimiser.step()
        running.append(loss.item())
        if step % schedule.eval_every == 0 or step == schedule.steps:
            steps_done.append(step)
            losses.append(float(np.mean(running)))
            running = []
            scores.append(evaluate(model, test, config.num_classes, test_mask))
            if validation is not None:
                validated.append(evaluate(model, validation, config.num_classes))
            if progress is not None:
                progress(step, schedule.steps, scores[-1])
            if on_evaluation is not None:
                on_evaluation(step, model)
    held = sorted({image_of(i) for i in validation.ids}) if validation is not None else []
    result = VictimResult.from_curves(
        scores, losses, time.perf_counter() - start, countermeasure, validated, held
    )
    result.eval_steps = steps_done
    return result


def _patches(
    images: torch.Tensor, labels: torch.Tensor, schedule: StepSchedule, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random patches (uniform slice and position): (B, 1, P, P) each."""
    count, height, width = images.shape
    size = schedule.patch
    which = torch.randint(count, (schedule.batch_size,), generator=generator)
    ys = torch.randint(height - size + 1, (schedule.batch_size,), generator=generator)
    xs = torch.randint(width - size + 1, (schedule.batch_size,), generator=generator)
    crops = [(int(n), int(y), int(x)) for n, y, x in zip(which, ys, xs, strict=True)]
    batch = torch.stack([images[n, y : y + size, x : x + size] for n, y, x in crops])
    target = torch.stack([labels[n, y : y + size, x : x + size] for n, y, x in crops])
    return batch[:, None], target[:, None]
