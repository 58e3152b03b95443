"""The surrogate segmenter the generators are trained against (min-min), and the shared loss.

A small MONAI UNet: the protection must transfer to victims MedUE never sees, so the surrogate is
an ordinary segmentation network rather than anything tied to the generator.
"""

from __future__ import annotations

from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from torch import nn


def build_surrogate(spatial_dims: int, num_classes: int) -> nn.Module:
    return UNet(
        spatial_dims=spatial_dims,
        in_channels=1,
        out_channels=num_classes,
        channels=(16, 32, 64),
        strides=(2, 2),
        num_res_units=1,
    )


def segmentation_loss() -> nn.Module:
    """Cross-entropy + Dice on softmax outputs against integer class maps (B, 1, ...)."""
    return DiceCELoss(to_onehot_y=True, softmax=True)
