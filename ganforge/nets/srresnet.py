"""SRResNet and the SRGAN discriminator of Ledig et al. 2017 ("Photo-Realistic Single Image Super-Resolution
Using a Generative Adversarial Network", Fig. 4 and section 2.2), sized for 28-32 px targets.

Generator ``srresnet`` (called ``G(x_lr)`` with a low-resolution image (N, C, H/r, W/r) in [-1, 1]):

- conv 9x9 (``width`` maps) -> PReLU;
- ``blocks`` residual blocks (the paper's B = 16), each conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, added to
  its input (He et al. 2016's residual learning with Gross and Wilber's layout, as the paper says);
- conv 3x3 -> BN, added to the first layer's output (the long skip connection of Fig. 4);
- log2(r) sub-pixel upsampling blocks (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
  Using an Efficient Sub-Pixel Convolutional Neural Network"): conv 3x3 to 4 ``width`` maps -> PixelShuffle(2)
  -> PReLU, each doubling the resolution (two of them for the paper's r = 4);
- conv 9x9 to C channels -> tanh (images in [-1, 1]; the paper trains on HR images in [-1, 1] and does not
  name the last activation).

PixelShuffle(r) rearranges (N, C r^2, h, w) into (N, C, h r, w r): output pixel (c, h r + i, w r + j) is input
channel c r^2 + i r + j at (h, w). ``scale`` r is 2 or 4 (any power of two) and must divide the image size:
at 28 px, r = 4 maps 7 -> 28 and r = 2 maps 14 -> 28.

Discriminator ``srgan-d`` (plain kind: D(x) -> one logit per image; no final sigmoid, the loss applies it):
conv 3x3 s1 (``width``) -> LeakyReLU(0.2), then ``stages`` stages of [conv 3x3 s1 -> BN -> LeakyReLU] (the
first stage omits it) and conv 3x3 s2 -> BN -> LeakyReLU, widths doubling (64, 128, 256, 512 in the paper's
four stages on 96 px crops: 96 -> 48 -> 24 -> 12 -> 6), then dense ``dense`` (1024) -> LeakyReLU -> dense 1.
Scaled down to 28 px, the default is three stages: 28 -> 14 -> 7 -> 4, i.e. 4 x 4 x 256 features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape


class ResidualBlock(nn.Module):
    """conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, plus the input: (N, w, h, w') -> (N, w, h, w')."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SubPixelUpsample(nn.Module):
    """conv 3x3 to 4 w maps -> PixelShuffle(2) -> PReLU: (N, w, h, w') -> (N, w, 2h, 2w')."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, 4 * width, 3, padding=1)  # (N, 4w, h, w')
        self.shuffle = nn.PixelShuffle(2)  # (N, w, 2h, 2w')
        self.act = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


def upsampling_stages(scale: int, image_size: int) -> int:
    """log2(scale) for a power-of-two ``scale`` >= 2 dividing ``image_size``; otherwise a one-line error."""
    if scale < 2 or scale & (scale - 1):
        raise GanforgeError(f"srresnet: scale must be a power of two of at least 2 (2 or 4), got {scale}")
    if image_size % scale:
        raise GanforgeError(f"srresnet: scale {scale} needs an image size divisible by {scale}, got {image_size}px")
    return int(math.log2(scale))


@GENERATORS.register("srresnet")
class SRResNet(Generator):
    """G(x_lr): (N, C, S/r, S/r) in [-1, 1] -> (N, C, S, S) tanh (see the module docstring)."""

    out_range = "pm1"
    takes_images = True

    @dataclass
    class Args:
        width: int = 64   # feature maps (the paper's n64)
        blocks: int = 16  # residual blocks B
        scale: int = 4    # upscaling factor r: 4 (7 -> 28 px) or 2 (14 -> 28 px)

    def __init__(self, shape: NetShape, args: "SRResNet.Args") -> None:
        super().__init__(shape, args)
        stages = upsampling_stages(args.scale, shape.image_size)
        if args.width < 1 or args.blocks < 0:
            raise GanforgeError(f"srresnet: width must be at least 1 and blocks at least 0, got width={args.width} "
                                f"blocks={args.blocks}")
        self.scale = args.scale
        self.input_size = shape.image_size // args.scale
        w, c = args.width, shape.channels
        self.head = nn.Sequential(nn.Conv2d(c, w, 9, padding=4), nn.PReLU(w))  # (N, w, S/r, S/r)
        self.blocks = nn.Sequential(*[ResidualBlock(w) for _ in range(args.blocks)])  # (N, w, S/r, S/r)
        self.fuse = nn.Sequential(nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w))  # (N, w, S/r, S/r)
        self.upsample = nn.Sequential(*[SubPixelUpsample(w) for _ in range(stages)])  # (N, w, S, S)
        self.tail = nn.Conv2d(w, c, 9, padding=4)  # (N, C, S, S)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.shape.channels, self.input_size, self.input_size):
            raise GanforgeError(f"srresnet: expected low-resolution images (N, {self.shape.channels}, "
                                f"{self.input_size}, {self.input_size}), got {tuple(x.shape)}")
        h = self.head(x)
        h = h + self.fuse(self.blocks(h))  # the long skip connection
        return torch.tanh(self.tail(self.upsample(h)))  # (N, C, S, S) in [-1, 1]


def stride2_sizes(image_size: int, stages: int) -> list[int]:
    """Spatial sizes after each stride-2 3x3 convolution with padding 1: s -> floor((s - 1) / 2) + 1."""
    sizes = [image_size]
    for _ in range(stages):
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


@DISCRIMINATORS.register("srgan-d")
class SRGANDiscriminator(Discriminator):
    """D(x): (N, C, S, S) in [-1, 1] -> one real/fake logit per image (N,) (see the module docstring)."""

    kind = "plain"

    @dataclass
    class Args:
        width: int = 64    # maps of the first stage, doubling per stage (64, 128, 256, 512 in the paper)
        stages: int = 3    # stride-2 stages: 3 at 28 px (28 -> 4), the paper's 4 at 96 px (96 -> 6)
        dense: int = 1024  # units of the hidden dense layer

    def __init__(self, shape: NetShape, args: "SRGANDiscriminator.Args") -> None:
        super().__init__(shape, args)
        if args.width < 1 or args.stages < 1 or args.dense < 1:
            raise GanforgeError(f"srgan-d: width, stages and dense must be at least 1, got width={args.width} "
                                f"stages={args.stages} dense={args.dense}")
        sizes = stride2_sizes(shape.image_size, args.stages)
        if sizes[-1] < 2:
            raise GanforgeError(f"srgan-d: {args.stages} stride-2 stages shrink {shape.image_size}px images to "
                                f"{sizes[-1]}px (sizes {sizes}; expected fewer stages, leaving at least 2px)")
        widths = [args.width * 2 ** i for i in range(args.stages)]
        layers: list[nn.Module] = [nn.Conv2d(shape.channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2)]  # (N, w, S, S)
        cin = widths[0]
        for w in widths:  # stage i: (N, cin, s, s) -> (N, w_i, s / 2, s / 2)
            if w != cin:
                layers += [nn.Conv2d(cin, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(w, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            cin = w
        self.features = nn.Sequential(*layers)  # (N, w_last, s_last, s_last)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * sizes[-1] ** 2, args.dense), nn.LeakyReLU(0.2),
                                  nn.Linear(args.dense, 1))  # (N, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # (N,)
