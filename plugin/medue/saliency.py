"""Gradient saliency and the top-K mask: where SALM may change an image.

SALM (arXiv 2403.10573, Figure 1) first ranks every pixel by the gradient of a classifier's loss
with respect to it and keeps the K most important ones. Saliency here is the absolute gradient of
the cross-entropy of the image's own class, summed over channels (Simonyan et al., "Deep Inside
Convolutional Networks", 2014); the mask holds exactly K voxels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medue.budget import top_k_count


def saliency(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``sum_channels |d CE(model(x), y) / dx|`` for a batch ``(B, C, *spatial)`` ->
    ``(B, *spatial)``, with the model in eval mode (its state is restored)."""
    was_training = model.training
    model.eval()
    x = images.detach().clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), targets, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    model.train(was_training)
    return grad.abs().sum(dim=1)


def top_k_mask(values: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the ``top_k_count`` largest ``values`` (same shape); ties go to the voxel
    that comes first in C order, so the mask is the same on every machine."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    count = top_k_count(flat.size, fraction)
    order = np.argsort(-flat, kind="stable")[:count]
    mask = np.zeros(flat.size, dtype=bool)
    mask[order] = True
    return mask.reshape(np.shape(values))
