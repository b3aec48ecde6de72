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

Registered as ``patchgan-image``, of kind ``patch``: the same layers on one image, ``D(image) -> (N, P, P)``,
the discriminator of CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", section 4 and appendix 7.2), which judges an image without a condition and uses
instance normalisation ("we use instance normalization", section 4; Ulyanov et al. 2016) where pix2pix uses
batch normalisation: option ``norm`` (``instance``, the default, ``batch`` or ``none``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, Discriminator, NetShape
from .layers import NORMS, init_normal_


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


def patch_layers(in_channels: int, width: int, layers: int, norm) -> nn.Sequential:
    """C(width, s2)-...-C(s1)-out: ``layers`` stride-2 4 x 4 convolutions, a stride-1 one and the output
    convolution to one channel, ``norm(width)`` (or None) after every convolution but the first and last."""
    widths = [min(width * 2 ** i, 8 * width) for i in range(layers + 1)]  # e.g. (64, 128)
    blocks: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
    for i in range(1, layers + 1):  # stride 2 for i < layers, then the stride-1 layer
        stride = 2 if i < layers else 1
        blocks += [nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1, bias=norm is None),
                   norm(widths[i]) if norm is not None else nn.Identity(), nn.LeakyReLU(0.2)]
    blocks.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))  # (N, 1, P, P)
    return nn.Sequential(*blocks)


def check_patch_args(name: str, layers: int, width: int, image_size: int) -> list[int]:
    """The spatial sizes of the layers; a one-line error when there are none to build or no patch is left."""
    if layers < 1 or width < 1:
        raise GanforgeError(f"{name}: layers and width must be at least 1, got layers={layers} width={width}")
    sizes = patch_sizes(image_size, layers)
    if sizes[-1] < 1:
        raise GanforgeError(f"{name}: {layers} stride-2 layers leave no patch of {image_size}px "
                            f"images (sizes {sizes}; expected fewer layers)")
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
        sizes = check_patch_args("patchgan", args.layers, args.width, shape.image_size)
        norm = nn.BatchNorm2d if args.batchnorm else None
        self.net = patch_layers(2 * shape.channels, args.width, args.layers, norm)  # on (N, 2C, S, S)
        self.patches = sizes[-1]
        self.receptive_field = receptive_field(args.layers)
        init_normal_(self, 0.02, bn_std=0.02)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        pair = torch.cat([condition, image], dim=1)  # (N, 2C, S, S)
        return self.net(pair).squeeze(1)  # (N, P, P)


@DISCRIMINATORS.register("patchgan-image")
class PatchGANImage(Discriminator):
    """D(image): (N, C, S, S) -> patch logits (N, P, P), CycleGAN's unconditional PatchGAN (module docstring)."""

    kind = "patch"

    @dataclass
    class Args:
        width: int = 64
        layers: int = 1          # stride-2 layers: 1 -> 16 px patches (12 x 12 of them at 28 px), 3 -> 70 px
        norm: str = "instance"   # instance (the paper's) | batch | none

    def __init__(self, shape: NetShape, args: "PatchGANImage.Args") -> None:
        super().__init__(shape, args)
        if args.norm not in NORMS:
            raise GanforgeError(f"patchgan-image: norm={args.norm!r} is not one of: {', '.join(NORMS)}")
        sizes = check_patch_args("patchgan-image", args.layers, args.width, shape.image_size)
        self.net = patch_layers(shape.channels, args.width, args.layers,
                                None if args.norm == "none" else NORMS[args.norm])
        self.patches = sizes[-1]
        self.receptive_field = receptive_field(args.layers)
        init_normal_(self, 0.02, bn_std=0.02)  # N(0, 0.02), as the authors' code (init_type normal, gain 0.02)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).squeeze(1)  # (N, P, P)
