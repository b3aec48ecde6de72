"""The PatchGAN discriminator of Isola et al. 2017 ("Image-to-Image Translation with Conditional Adversarial
Networks", section 3.2.2 and appendix 6.1.2), sized for 28-32 px images.

pix2pix's D judges an (input, output) pair: both images are concatenated along the channels and a fully
convolutional net returns one real/fake logit per overlapping patch, so it only models structure at the
scale of a patch and leaves the low frequencies to the L1 term. The paper's 70 x 70 net for 256 px images is
C64-C128-C256-C512 (4 x 4 convolutions, the first three of stride 2, the C512 of stride 1) and a stride-1
convolution to one channel, BatchNorm on all but the first, LeakyReLU(0.2); its 16 x 16 net has one stride-2
layer (C64-C128). ``layers`` is that number of stride-2 layers (the reference code's ``n_layers``); widths
double from ``width`` up to 8 x ``width``. The receptive field of one output logit is

    r(0) = 7 (the stride-1 layer and the output convolution),  r(l) = 2 r(l - 1) + 2,  so r(l) = 9 * 2^l - 2

i.e. 16 px for ``layers=1``, 34 px for 2 and 70 px for 3 (the paper's). The default here is ``layers=1``:
a 3-layer net C64(s2)-C128(s1)-out(s1) whose 16 px patches are 57% of a 28 px image (the paper's 70 px
patches are 27% of 256 px; at 28 px a 34 px field would already see the whole image and be an image GAN).
On 28 px images it returns a 12 x 12 map of logits (28 -> 14 -> 13 -> 12); on 32 px, 14 x 14.

Registered as ``patchgan``, of kind ``paired``: called ``D(condition, image)`` with two images (N, C, H, W)
in [-1, 1], it returns the patch logits (N, P, P).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, Discriminator, NetShape
from .layers import init_normal_


def receptive_field(layers: int) -> int:
    """Input pixels one output logit sees, for ``layers`` stride-2 4 x 4 convolutions followed by a stride-1
    4 x 4 convolution and the stride-1 4 x 4 output convolution (r = r_next * stride + kernel - stride)."""
    r = 1
    for stride in [1, 1] + [2] * layers:  # from the output back to the input
        r = r * stride + 4 - stride
    return r


def patch_sizes(image_size: int, layers: int) -> list[int]:
    """Spatial sizes after each convolution (padding 1): stride 2 floors (s - 2) / 2 + 1, stride 1 gives s - 1."""
    sizes = [image_size]
    for _ in range(layers):
        sizes.append((sizes[-1] - 2) // 2 + 1)
    sizes += [sizes[-1] - 1, sizes[-1] - 2]
    return sizes


@DISCRIMINATORS.register("patchgan")
class PatchGAN(Discriminator):
    """D(condition, image): (N, C, S, S) twice -> patch logits (N, P, P) (see the module docstring)."""

    kind = "paired"

    @dataclass
    class Args:
        width: int = 64
        layers: int = 1          # stride-2 layers: 1 -> 16 px patches, 2 -> 34 px, 3 -> 70 px (the paper's)
        batchnorm: bool = True

    def __init__(self, shape: NetShape, args: "PatchGAN.Args") -> None:
        super().__init__(shape, args)
        if args.layers < 1 or args.width < 1:
            raise GanforgeError(f"patchgan: layers and width must be at least 1, got layers={args.layers} "
                                f"width={args.width}")
        sizes = patch_sizes(shape.image_size, args.layers)
        if sizes[-1] < 1:
            raise GanforgeError(f"patchgan: {args.layers} stride-2 layers leave no patch of {shape.image_size}px "
                                f"images (sizes {sizes}; expected fewer layers)")
        widths = [min(args.width * 2 ** i, 8 * args.width) for i in range(args.layers + 1)]  # e.g. (64, 128)
        blocks: list[nn.Module] = [nn.Conv2d(2 * shape.channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, args.layers + 1):  # stride 2 for i < layers, then the stride-1 layer
            stride = 2 if i < args.layers else 1
            blocks += [nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1, bias=not args.batchnorm),
                       nn.BatchNorm2d(widths[i]) if args.batchnorm else nn.Identity(), nn.LeakyReLU(0.2)]
        blocks.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))  # (N, 1, P, P)
        self.net = nn.Sequential(*blocks)
        self.patches = sizes[-1]
        self.receptive_field = receptive_field(args.layers)
        init_normal_(self, 0.02, bn_std=0.02)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        pair = torch.cat([condition, image], dim=1)  # (N, 2C, S, S)
        return self.net(pair).squeeze(1)  # (N, P, P)
