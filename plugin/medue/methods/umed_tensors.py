"""UMed's network tensors: training patches and a case's ROI box as the generators' inputs.

Every array is (z, y, x) or a stack of them, (B, d, h, w); the networks take (B, C, h, w) in 2D
(one slice per item) and (B, C, d, h, w) in 3D. The generators' input channels are the image
(window units), the one-hot foreground classes, the contour band and the class key
(``medue.methods.patches``); the other tensors (masks, texture bound, budget in window units)
are what ``medue.methods.umed.compose`` needs to turn the raw maps into a perturbation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from medue.methods.patches import PatchBatch, key_region
from medue.prepare import PreparedCase

if TYPE_CHECKING:
    from medue.methods.umed import UMedConfig


def _network_input(image, classes, band, key, num_classes: int, use_key: bool) -> torch.Tensor:
    """Channels: image, one-hot foreground classes, contour band, (key)."""
    onehot = torch.nn.functional.one_hot(classes.long(), num_classes).movedim(-1, 1)[:, 1:]
    parts = [image.unsqueeze(1), onehot.float(), band.unsqueeze(1)]
    if use_key:
        parts.append(key.unsqueeze(1))
    return torch.cat(parts, dim=1)


def batch_tensors(batch: PatchBatch, config: UMedConfig, num_classes: int) -> dict:
    """(B, d, h, w) arrays -> network tensors: (B, C, h, w) in 2D, (B, C, d, h, w) in 3D."""
    t = {name: torch.from_numpy(np.ascontiguousarray(getattr(batch, name))) for name in
         ("image", "classes", "band", "interior", "texture", "key")}  # fmt: skip
    if config.spatial_dims == 2:
        t = {name: value[:, 0] for name, value in t.items()}
    return _assemble(
        t, torch.from_numpy(batch.epsilon), torch.from_numpy(batch.step), config, num_classes
    )


def case_tensors(case: PreparedCase, region, tile, config: UMedConfig, num_classes: int) -> dict:
    """One case's ROI box as a batch: its slices in 2D, the whole box in 3D."""
    starts = [s.start for s in region]
    size = [s.stop - s.start for s in region]
    arrays = {
        "image": case.image[region],
        "classes": case.classes[region],
        "band": case.band[region].astype(np.float32),
        "interior": case.interior[region].astype(np.float32),
        "texture": case.texture[region],
        "key": key_region(tile, case.classes[region], starts, size),
    }
    t = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}
    count = size[0] if config.spatial_dims == 2 else 1
    if config.spatial_dims == 3:
        t = {name: value.unsqueeze(0) for name, value in t.items()}
    eps = torch.full((count,), case.budget.epsilon, dtype=torch.float32)
    step = torch.full((count,), case.budget.step, dtype=torch.float32)
    return _assemble(t, eps, step, config, num_classes)


def _assemble(t: dict, eps, step, config: UMedConfig, num_classes: int) -> dict:
    network_input = _network_input(
        t["image"].float(), t["classes"], t["band"].float(), t["key"].float(), num_classes,
        config.use_key,
    )  # fmt: skip
    return {
        "network_input": network_input,
        "image": t["image"].float().unsqueeze(1),
        "classes": t["classes"].long().unsqueeze(1),
        "band": t["band"].float().unsqueeze(1),
        "interior": t["interior"].float().unsqueeze(1),
        "texture": t["texture"].float().unsqueeze(1),
        "key": t["key"].float().unsqueeze(1),
        "epsilon": eps.float(),
        "step": step.float(),
    }


def to_numpy_layout(delta: torch.Tensor, dims: int) -> np.ndarray:
    """(Z, 1, h, w) in 2D or (1, 1, d, h, w) in 3D -> (z, y, x)."""
    return delta[:, 0].numpy() if dims == 2 else delta[0, 0].numpy()


def bounding_box(mask: np.ndarray, margin: int) -> list[tuple[int, int]] | None:
    """Box around the mask, grown in-plane by ``margin`` (not along z), clipped to the image."""
    if not mask.any():
        return None
    coords = np.argwhere(mask)
    lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
    grow = [0] + [margin] * (mask.ndim - 1)
    return [
        (max(0, int(a) - g), min(n, int(b) + g))
        for a, b, g, n in zip(lo, hi, grow, mask.shape, strict=True)
    ]
