"""Image classifiers from MONAI: SALM's surrogate and the victims of a classification release.

Two families the protection must hold against (SALM, arXiv 2403.10573, trains ResNet-18 victims):

- ``resnet18``: MONAI's ResNet-18 (He et al., CVPR 2016), one input channel, with a stride-2
  first convolution as in the original (MONAI's default stem keeps full resolution, four times
  the cost on this CPU), ``widen_factor`` scaling every width;
- ``densenet121``: MONAI's DenseNet-121 (Huang et al., CVPR 2017), one input channel.

Both take ``(B, 1, H, W)`` or ``(B, 1, D, H, W)`` in [0, 1] and return ``(B, num_classes)`` logits;
they end in global pooling, so any input size works.
"""

from __future__ import annotations

from monai.networks.nets import DenseNet121, resnet18
from torch import nn

ARCHITECTURES = ("resnet18", "densenet121")


def build_classifier(
    arch: str, spatial_dims: int, num_classes: int, widen_factor: float = 1.0
) -> nn.Module:
    """A fresh, randomly initialised classifier (seed torch first for a reproducible one).

    Raises ``ValueError`` for an unknown architecture, fewer than two classes, or spatial_dims
    other than 2 or 3.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least two classes, got {num_classes}")
    if arch == "resnet18":
        return resnet18(
            spatial_dims=spatial_dims,
            n_input_channels=1,
            num_classes=num_classes,
            conv1_t_stride=2,
            widen_factor=widen_factor,
        )
    if arch == "densenet121":
        return DenseNet121(spatial_dims=spatial_dims, in_channels=1, out_channels=num_classes)
    raise ValueError(f"unknown classifier {arch!r} (known: {', '.join(ARCHITECTURES)})")
