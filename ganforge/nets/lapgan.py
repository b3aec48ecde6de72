"""LAPGAN's per-level networks: a generator of the band-pass residual of one pyramid level and a discriminator
of (low-pass, residual) pairs.

Denton, Chintala, Szlam and Fergus 2015, "Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks", section 2.3: at level k < K the generator G_k(z_k, l_k) gets the upsampled coarser
image l_k = u(I_{k+1}) and noise z_k and returns a residual h~_k; the discriminator D_k(h, l_k) judges the
residual h (real h_k = I_k - l_k or generated h~_k) given the same low-pass image. Section 3: the noise is
"presented as a 4th 'color plane'" to the low-pass image, i.e. one noise plane concatenated to l_k's
channels; the CIFAR-10 level generators are 3-layer ReLU convnets keeping the spatial size and the
discriminators 2 convolutional layers then a linear unit. The authors' code (facebookarchive/eyescream,
``train_cifar_coarse_to_fine.lua``) uses 128 channels, kernels 7-7-5 in G, 5-5 (the second of stride 2) with
dropout before the linear unit in D; the defaults here are narrower (64 channels, 5 x 5 kernels) to train on
a CPU. Their D reads the sum h + l_k; this one reads the pair as channels (the paper's D(h, l)).

- ``lapgan-g`` (``takes_low_pass``): ``G(low, noise)`` with low (N, C, S, S), noise (N, 1, S, S) -> residual
  (N, C, S, S), unbounded (a linear last layer: residuals take both signs).
- ``lapgan-d`` (kind ``paired``, called as pix2pix's ``D(condition, image)``): ``D(low, residual)`` -> (N,).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape


@GENERATORS.register("lapgan-g")
class LevelGenerator(Generator):
    """G_k: [low-pass | noise plane] -> ``layers`` same-size convolutions, ReLU between -> residual.

    (N, C + 1, S, S) -> [Conv(k, pad k//2) (BN) ReLU] x (layers - 1) -> (N, width, S, S) -> Conv(k) -> (N, C, S, S)
    """

    out_range = "real"
    #: called as ``G(low, noise)``: the LAPGAN family checks this
    takes_low_pass = True

    @dataclass
    class Args:
        width: int = 64
        kernel: int = 5       # odd: "same" padding keeps the level's size
        layers: int = 3
        batchnorm: bool = False

    def __init__(self, shape: NetShape, args: "LevelGenerator.Args") -> None:
        super().__init__(shape, args)
        if args.width < 1 or args.layers < 1 or args.kernel < 1 or args.kernel % 2 == 0:
            raise GanforgeError(f"lapgan-g: width and layers must be at least 1 and kernel odd, got width="
                                f"{args.width} layers={args.layers} kernel={args.kernel}")
        pad, blocks, ch = args.kernel // 2, [], shape.channels + 1  # the noise is one extra plane
        for _ in range(args.layers - 1):
            blocks += [nn.Conv2d(ch, args.width, args.kernel, 1, pad, bias=not args.batchnorm),  # (N, w, S, S)
                       nn.BatchNorm2d(args.width) if args.batchnorm else nn.Identity(), nn.ReLU()]
            ch = args.width
        blocks.append(nn.Conv2d(ch, shape.channels, args.kernel, 1, pad))  # (N, C, S, S), linear
        self.net = nn.Sequential(*blocks)

    def forward(self, low: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([low, noise], dim=1))  # (N, C + 1, S, S) -> (N, C, S, S)


def conv_sizes(size: int, kernel: int) -> tuple[int, int]:
    """Spatial sizes after a valid convolution and a valid stride-2 one: 28, 5 -> (24, 10); 14, 5 -> (10, 3)."""
    first = size - kernel + 1
    return first, (first - kernel) // 2 + 1


@DISCRIMINATORS.register("lapgan-d")
class LevelDiscriminator(Discriminator):
    """D_k(low, residual): the pair as channels -> Conv(k) ReLU -> Conv(k, stride 2) ReLU -> dropout -> linear.

    (N, 2C, S, S) -> (N, w, S-k+1, S-k+1) -> (N, w, P, P) -> (N, w P P) -> logit (N,)
    """

    kind = "paired"

    @dataclass
    class Args:
        width: int = 64
        kernel: int = 5
        dropout: float = 0.5

    def __init__(self, shape: NetShape, args: "LevelDiscriminator.Args") -> None:
        super().__init__(shape, args)
        first, last = conv_sizes(shape.image_size, args.kernel)
        if args.width < 1 or args.kernel < 1 or not 0.0 <= args.dropout < 1.0:
            raise GanforgeError(f"lapgan-d: width and kernel must be at least 1 and dropout in [0, 1), got width="
                                f"{args.width} kernel={args.kernel} dropout={args.dropout}")
        if first < args.kernel or last < 1:
            raise GanforgeError(f"lapgan-d: two {args.kernel}x{args.kernel} convolutions do not fit a "
                                f"{shape.image_size}px pyramid level (expected a smaller kernel)")
        self.net = nn.Sequential(
            nn.Conv2d(2 * shape.channels, args.width, args.kernel), nn.ReLU(),  # (N, w, S-k+1, S-k+1)
            nn.Conv2d(args.width, args.width, args.kernel, 2), nn.ReLU(),  # (N, w, P, P)
            nn.Flatten(), nn.Dropout(args.dropout),  # (N, w P P)
            nn.Linear(args.width * last * last, 1),  # (N, 1)
        )

    def forward(self, low: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([low, residual], dim=1)).view(-1)  # (N, 2C, S, S) -> (N,)
