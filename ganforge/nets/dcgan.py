"""Radford et al. 2015, "Unsupervised Representation Learning with Deep Convolutional GANs" (DCGAN).

The networks of pytorch/examples ``dcgan/main.py`` (``netG``/``netD``), generalised from 64 px to 28, 32
or 64 px and any number of channels by changing the number of stride-2 stages ``n_up`` and the first /
last kernel ``base``:

    image_size  base  n_up   generator feature maps (width w)
    28          7     2      (2w, 7, 7) -> (w, 14, 14) -> (C, 28, 28)
    32          4     3      (4w, 4, 4) -> (2w, 8, 8) -> (w, 16, 16) -> (C, 32, 32)
    64          4     4      (8w, 4, 4) -> (4w, 8, 8) -> (2w, 16, 16) -> (w, 32, 32) -> (C, 64, 64)

At 64 px with w = 64 both networks are exactly pytorch/examples' (bias-free convolutions), except that
the discriminator returns the logit rather than its sigmoid. Initialisation is pytorch/examples'
``weights_init``: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02) and bias 0. This module is also
the DCGAN baseline of the course reports of Nair and Shah 2017 and Skliar.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .layers import init_normal_

# image_size -> (base spatial size, number of stride-2 stages)
_GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _geometry(net: str, image_size: int) -> tuple[int, int]:
    if image_size not in _GEOMETRY:
        sizes = ", ".join(str(s) for s in sorted(_GEOMETRY))
        raise GanforgeError(f"{net} supports image_size {sizes}, got {image_size}")
    return _GEOMETRY[image_size]


@GENERATORS.register("dcgan-g")
class DCGANGenerator(Generator):
    """DCGAN generator (Radford et al. 2015; pytorch/examples ``dcgan`` netG), tanh output in [-1, 1].

    z (N, z_dim) -> (N, z_dim, 1, 1) -> ConvT(base, 1, 0) BN ReLU -> (N, w*2^(n_up-1), base, base)
    -> (n_up - 1) x [ConvT(4, 2, 1) BN ReLU, halving channels] -> ConvT(4, 2, 1) -> tanh -> (N, C, H, W).
    """

    out_range = "pm1"

    @dataclass
    class Args:
        width: int = 64

    def __init__(self, shape: NetShape, args: "DCGANGenerator.Args") -> None:
        super().__init__(shape, args)
        base, n_up = _geometry("dcgan-g", shape.image_size)
        ch = args.width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(shape.z_dim, ch, base, 1, 0, bias=False),  # (N, 512, 4, 4) at 64 px
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),  # (N, 256, 8, 8), (128, 16, 16), (64, 32, 32)
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [
            nn.ConvTranspose2d(ch, shape.channels, 4, 2, 1, bias=False),  # (N, C, 64, 64)
            nn.Tanh(),
        ]
        self.main = nn.Sequential(*layers)
        init_normal_(self, 0.02, bn_std=0.02)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], -1, 1, 1))  # (N, z_dim, 1, 1) -> (N, C, H, W)


@DISCRIMINATORS.register("dcgan-d")
class DCGANDiscriminator(Discriminator):
    """DCGAN discriminator (Radford et al. 2015; pytorch/examples ``dcgan`` netD without the sigmoid).

    x (N, C, H, W) -> Conv(4, 2, 1) LeakyReLU(0.2) (no BN) -> (N, w, H/2, W/2)
    -> (n_up - 1) x [Conv(4, 2, 1) BN LeakyReLU(0.2), doubling channels] -> (N, w*2^(n_up-1), base, base)
    -> Conv(base, 1, 0) -> (N, 1, 1, 1) -> logits (N,).
    """

    @dataclass
    class Args:
        width: int = 64

    def __init__(self, shape: NetShape, args: "DCGANDiscriminator.Args") -> None:
        super().__init__(shape, args)
        base, n_up = _geometry("dcgan-d", shape.image_size)
        ch = args.width
        layers: list[nn.Module] = [
            nn.Conv2d(shape.channels, ch, 4, 2, 1, bias=False),  # (N, 64, 32, 32) at 64 px
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),  # (N, 128, 16, 16), (256, 8, 8), (512, 4, 4)
                nn.BatchNorm2d(ch * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, base, 1, 0, bias=False))  # (N, 1, 1, 1)
        self.main = nn.Sequential(*layers)
        init_normal_(self, 0.02, bn_std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)  # (N,)
