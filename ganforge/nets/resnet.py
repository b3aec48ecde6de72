"""The residual image-to-image generator of CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation
using Cycle-Consistent Adversarial Networks", section 4 and appendix 7.2), after Johnson et al. 2016
("Perceptual Losses for Real-Time Style Transfer and Super-Resolution"), sized for 28-32 px images.

The paper's network for 128 px images is ``c7s1-64, d128, d256, R256 x 6, u128, u64, c7s1-3``:

- ``c7s1-k``: 7 x 7 convolution, stride 1, k filters, instance norm, ReLU (reflection padding);
- ``dk``: 3 x 3 convolution, stride 2 (halves the size), instance norm, ReLU;
- ``Rk``: a residual block of two 3 x 3 convolutions with k filters (reflection padding, instance norm, ReLU
  between them), its input added to its output;
- ``uk``: 3 x 3 fractional-strided convolution, stride 1/2 (doubles the size), instance norm, ReLU;
- the last ``c7s1`` has no norm and ends in tanh (outputs in [-1, 1]).

Here ``width`` is the first layer's k (the paper's 64; the others are 2 and 4 times it) and ``blocks`` the
number of residual blocks (6 for 128 px, 9 for 256 px in the paper). At 28 px the two stride-2 layers give
28 -> 14 -> 7, the residual blocks work on 7 x 7 maps, and the two up-layers return 7 -> 14 -> 28 (32 px:
32 -> 16 -> 8). Instance norm without affine parameters, as torch's default and the authors' code; option
``norm`` may swap in batch norm or none.

Why this and not the U-Net of :mod:`ganforge.nets.unet` for CycleGAN: a U-Net's skip connections carry the
input straight to the output, so F(G(x)) = x is easy to reach while G(x) stays close to a copy of x (the
cycle and identity terms both reward copying); the residual generator must pass everything through its
7 x 7 bottleneck, as the paper's generator does at its scale. ``unet`` still builds in family ``cyclegan``
for comparison.

Registered as ``resnet-g``: called ``G(x)`` with an image (N, C, S, S), returns (N, C, S, S) in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import GENERATORS, Generator, NetShape
from .layers import NORMS, init_normal_


def _norm(name: str, width: int) -> nn.Module:
    return NORMS[name](width)


class ResidualBlock(nn.Module):
    """Rk: x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x), shape-preserving (N, k, s, s)."""

    def __init__(self, width: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=norm == "none"), _norm(norm, width), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=norm == "none"), _norm(norm, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (N, k, s, s)


@GENERATORS.register("resnet-g")
class ResnetGenerator(Generator):
    """G(x): c7s1-w, d2w, d4w, R4w x blocks, u2w, uw, c7s1-C tanh (module docstring)."""

    out_range = "pm1"
    takes_images = True

    @dataclass
    class Args:
        width: int = 64      # the paper's 64 filters in the first layer
        blocks: int = 6      # residual blocks (the paper: 6 at 128 px, 9 at 256 px)
        norm: str = "instance"

    def __init__(self, shape: NetShape, args: "ResnetGenerator.Args") -> None:
        super().__init__(shape, args)
        if args.norm not in NORMS:
            raise GanforgeError(f"resnet-g: norm={args.norm!r} is not one of: {', '.join(NORMS)}")
        if args.width < 1 or args.blocks < 0:
            raise GanforgeError(f"resnet-g: width must be at least 1 and blocks at least 0, got width={args.width} "
                                f"blocks={args.blocks}")
        if shape.image_size % 4:
            raise GanforgeError(f"resnet-g: two stride-2 layers need an image size divisible by 4, "
                                f"got {shape.image_size}px")
        w, c, bias = args.width, shape.channels, args.norm == "none"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(c, w, 7, bias=bias), _norm(args.norm, w),
                                   nn.ReLU()]  # (N, w, S, S)
        for k in (2 * w, 4 * w):  # d2w: (N, 2w, S/2, S/2), d4w: (N, 4w, S/4, S/4)
            layers += [nn.Conv2d(k // 2, k, 3, 2, 1, bias=bias), _norm(args.norm, k), nn.ReLU()]
        layers += [ResidualBlock(4 * w, args.norm) for _ in range(args.blocks)]  # (N, 4w, S/4, S/4)
        for k in (2 * w, w):  # u2w: (N, 2w, S/2, S/2), uw: (N, w, S, S)
            layers += [nn.ConvTranspose2d(2 * k, k, 3, 2, 1, output_padding=1, bias=bias), _norm(args.norm, k),
                       nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, c, 7), nn.Tanh()]  # (N, C, S, S) in [-1, 1]
        self.net = nn.Sequential(*layers)
        init_normal_(self, 0.02, bn_std=0.02)  # N(0, 0.02), the authors' code's default init

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, C, S, S)
