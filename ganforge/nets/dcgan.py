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

Switches for the variants the sources compare (all off by default, which is the network above):

- ``batchnorm: false`` removes every BatchNorm layer: the "weakened DCGAN" of Basart 2017 ("Analysis of
  Generative Adversarial Models", section 3.3.2: "We modified both architectures to create a weaker
  generator by removing all of the batch-normalization layers").
- ``leak`` (G) sets the slope of G's hidden activations (0: ReLU), and ``batchnorm_first`` (D) adds a
  BatchNorm after D's first convolution: with ``leak: 0.2`` and ``batchnorm_first: true`` "each convolution
  layer in both generator and discriminator is followed by a batch normalization layer and LeakyReLU with
  slope of 0.2" (Skliar's report, question 2.5), the output layers keeping tanh and the logit.
- ``minibatch_kernels`` B > 0 (D) puts minibatch discrimination (Salimans et al. 2016, section 3.2; see
  ``ganforge.nets.minibatch``) between D's last feature map and its logit.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .layers import init_normal_
from .minibatch import MinibatchHead

# image_size -> (base spatial size, number of stride-2 stages)
_GEOMETRY = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def geometry(net: str, image_size: int) -> tuple[int, int]:
    """(base, n_up) of the DCGAN geometry for ``image_size``; other sizes are a user error naming ``net``."""
    if image_size not in _GEOMETRY:
        sizes = ", ".join(str(s) for s in sorted(_GEOMETRY))
        raise GanforgeError(f"{net} supports image_size {sizes}, got {image_size}")
    return _GEOMETRY[image_size]


def norm_act(ch: int, batchnorm: bool, leak: float) -> list[nn.Module]:
    """[BatchNorm2d(ch)] if ``batchnorm``, then ReLU (``leak`` 0) or LeakyReLU(``leak``)."""
    act = nn.LeakyReLU(leak, inplace=True) if leak else nn.ReLU(True)
    return ([nn.BatchNorm2d(ch)] if batchnorm else []) + [act]


def up_stages(ch: int, n: int, batchnorm: bool, leak: float) -> tuple[list[nn.Module], int]:
    """``n`` x [ConvT(4, 2, 1) halving channels, norm, activation] from ``ch`` channels; (layers, out channels)."""
    layers: list[nn.Module] = []
    for _ in range(n):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),  # (N, ch/2, 2H, 2W)
                   *norm_act(ch // 2, batchnorm, leak)]
        ch //= 2
    return layers, ch


def check_leak(net: str, leak: float) -> None:
    if isinstance(leak, bool) or not isinstance(leak, (int, float)) or not 0.0 <= leak < 1.0:
        raise GanforgeError(f"{net} option leak must be a number in [0, 1), got {leak!r}")


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
        batchnorm: bool = True
        leak: float = 0.0  # slope of the hidden activations: 0 ReLU (Radford et al.), 0.2 Skliar's report

        def __post_init__(self) -> None:
            check_leak("dcgan-g", self.leak)

    def __init__(self, shape: NetShape, args: "DCGANGenerator.Args") -> None:
        super().__init__(shape, args)
        base, n_up = geometry("dcgan-g", shape.image_size)
        ch = args.width * 2 ** (n_up - 1)
        stages, ch_last = up_stages(ch, n_up - 1, args.batchnorm, args.leak)
        self.main = nn.Sequential(
            nn.ConvTranspose2d(shape.z_dim, ch, base, 1, 0, bias=False),  # (N, 512, 4, 4) at 64 px
            *norm_act(ch, args.batchnorm, args.leak),
            *stages,  # (N, 256, 8, 8), (128, 16, 16), (64, 32, 32) at 64 px
            nn.ConvTranspose2d(ch_last, shape.channels, 4, 2, 1, bias=False),  # (N, C, 64, 64)
            nn.Tanh(),
        )
        init_normal_(self, 0.02, bn_std=0.02)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], -1, 1, 1))  # (N, z_dim, 1, 1) -> (N, C, H, W)


@DISCRIMINATORS.register("dcgan-d")
class DCGANDiscriminator(Discriminator):
    """DCGAN discriminator (Radford et al. 2015; pytorch/examples ``dcgan`` netD without the sigmoid).

    x (N, C, H, W) -> Conv(4, 2, 1) LeakyReLU(0.2) (no BN) -> (N, w, H/2, W/2)
    -> (n_up - 1) x [Conv(4, 2, 1) BN LeakyReLU(0.2), doubling channels] -> (N, w*2^(n_up-1), base, base)
    -> Conv(base, 1, 0) -> (N, 1, 1, 1) -> logits (N,).

    :meth:`hidden_features` is the last feature map, flattened (the input of the logit layer): the intermediate
    layer Salimans et al. 2016's feature matching reads. With ``minibatch_kernels`` B > 0 the logit layer is
    minibatch discrimination on those features followed by a linear unit (``MinibatchHead``).
    """

    has_features = True

    @dataclass
    class Args:
        width: int = 64
        batchnorm: bool = True
        batchnorm_first: bool = False  # a BN after the first conv too (Skliar's report)
        minibatch_kernels: int = 0  # B of Salimans et al. 2016 (0: no minibatch discrimination)
        minibatch_dims: int = 5  # C of Salimans et al. 2016 (improved-gan's MinibatchLayer default)

    def __init__(self, shape: NetShape, args: "DCGANDiscriminator.Args") -> None:
        super().__init__(shape, args)
        base, n_up = geometry("dcgan-d", shape.image_size)
        ch = args.width
        layers: list[nn.Module] = [
            nn.Conv2d(shape.channels, ch, 4, 2, 1, bias=False),  # (N, 64, 32, 32) at 64 px
            *([nn.BatchNorm2d(ch)] if args.batchnorm and args.batchnorm_first else []),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),  # (N, 128, 16, 16), (256, 8, 8), (512, 4, 4)
                *([nn.BatchNorm2d(ch * 2)] if args.batchnorm else []),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch *= 2
        if args.minibatch_kernels > 0:  # (N, ch*base*base) -> minibatch features -> (N, 1)
            layers.append(MinibatchHead(ch * base * base, args.minibatch_kernels, args.minibatch_dims))
        else:
            layers.append(nn.Conv2d(ch, 1, base, 1, 0, bias=False))  # (N, 1, 1, 1)
        self.main = nn.Sequential(*layers)
        init_normal_(self, 0.02, bn_std=0.02)

    def hidden_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.main[:-1](x).flatten(1)  # (N, w*2^(n_up-1)*base*base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)  # (N,)
