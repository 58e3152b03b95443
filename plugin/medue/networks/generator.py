"""The perturbation generator: a small encoder-decoder mapping an image (+ masks) to a raw map.

Fully convolutional, so one network trained on patches perturbs whole slices or volumes; sizes
must be multiples of ``size_multiple`` (callers pad). The output is unbounded: the method turns it
into a budgeted perturbation (tanh, masks, clipping). With ``central_difference=theta`` every
convolution is a CDC layer with that theta (UMed's contour generator); with None, plain
convolutions (its texture generator).
"""

from __future__ import annotations

import torch
from torch import nn

from medue.networks.cdc import CentralDifferenceConv


def size_multiple(features: tuple[int, ...]) -> int:
    """What every input side must be a multiple of: one halving per level below the top."""
    return 2 ** (len(features) - 1)


class _ConvBlock(nn.Module):
    def __init__(self, dims: int, in_ch: int, out_ch: int, central_difference: float | None):
        super().__init__()
        norm = nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d
        layers: list[nn.Module] = []
        for channels_in in (in_ch, out_ch):
            if central_difference is not None:
                layers.append(CentralDifferenceConv(dims, channels_in, out_ch, central_difference))
            else:
                conv = nn.Conv2d if dims == 2 else nn.Conv3d
                layers.append(conv(channels_in, out_ch, kernel_size=3, padding=1, bias=False))
            layers += [norm(out_ch, affine=True), nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class PerturbationGenerator(nn.Module):
    """U-shaped encoder-decoder with skip connections; ``len(features) - 1`` downsamplings."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        features: tuple[int, ...] = (16, 32, 64),
        central_difference: float | None = None,
    ) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.size_multiple = size_multiple(features)
        pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        self.down = pool(2)
        self.encoders = nn.ModuleList()
        channels = in_channels
        for width in features:
            self.encoders.append(_ConvBlock(spatial_dims, channels, width, central_difference))
            channels = width
        self.decoders = nn.ModuleList(
            _ConvBlock(spatial_dims, features[i] + features[i + 1], features[i], central_difference)
            for i in reversed(range(len(features) - 1))
        )
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.head = conv(features[0], 1, kernel_size=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for index, encoder in enumerate(self.encoders):
            x = encoder(x if index == 0 else self.down(x))
            skips.append(x)
        skips.pop()
        for decoder in self.decoders:
            x = decoder(torch.cat([self.up(x), skips.pop()], dim=1))
        return self.head(x)
