"""The "small DCGAN" generator of Basart 2017, "Analysis of Generative Adversarial Models", section 3.3.2.

The thesis, on the generators it compares on MNIST: "we removed convolutional layer 4 and modified the third
convolutional layer to match the output of convolutional layer 4 from DCGAN. We call this modified
architecture small DCGAN."

At 32 px the DCGAN generator (``ganforge.nets.dcgan``) has exactly four (transposed) convolutions:

    DCGAN        1: (4w, 4, 4)   2: (2w, 8, 8)   3: (w, 16, 16)   4: (C, 32, 32)
    small DCGAN  1: (4w, 4, 4)   2: (2w, 8, 8)   3: (C, 32, 32)

Layer 4 is gone and layer 3 now outputs what layer 4 did, the image: it keeps its 4x4 kernel and upsamples
by 4 instead of 2 (ConvT(4, stride 4, padding 0); the thesis does not give the kernel, stride or padding,
this is the smallest change that matches the output). At 28 and 64 px the same rule applies to the last two
layers (the last stride-2 stage is dropped and the layer before it upsamples by 4 to the image).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import GENERATORS, Generator, NetShape
from .dcgan import geometry, norm_act, up_stages
from .layers import init_normal_


@GENERATORS.register("small-dcgan-g")
class SmallDCGANGenerator(Generator):
    """DCGAN generator with its last stage removed and the layer before it upsampling x4 to the image.

    z (N, z_dim) -> ConvT(base, 1, 0) BN ReLU -> (N, w*2^(n_up-1), base, base)
    -> (n_up - 2) x [ConvT(4, 2, 1) BN ReLU] -> ConvT(4, 4, 0) -> tanh -> (N, C, H, W).
    """

    out_range = "pm1"

    @dataclass
    class Args:
        width: int = 64
        batchnorm: bool = True

    def __init__(self, shape: NetShape, args: "SmallDCGANGenerator.Args") -> None:
        super().__init__(shape, args)
        base, n_up = geometry("small-dcgan-g", shape.image_size)
        ch = args.width * 2 ** (n_up - 1)
        stages, ch_last = up_stages(ch, n_up - 2, args.batchnorm, 0.0)
        self.main = nn.Sequential(
            nn.ConvTranspose2d(shape.z_dim, ch, base, 1, 0, bias=False),  # (N, 4w, 4, 4) at 32 px
            *norm_act(ch, args.batchnorm, 0.0),
            *stages,  # (N, 2w, 8, 8) at 32 px
            nn.ConvTranspose2d(ch_last, shape.channels, 4, 4, 0, bias=False),  # (N, C, 32, 32): 4 x 8
            nn.Tanh(),
        )
        init_normal_(self, 0.02, bn_std=0.02)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], -1, 1, 1))  # (N, z_dim, 1, 1) -> (N, C, H, W)
