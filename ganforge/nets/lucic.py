"""Lucic et al. 2018, "Are GANs Created Equal? A Large-Scale Study": the small 28x28 GAN.

The InfoGAN-style pair that google/compare_gan (``src/gans/abstract_gan.py``) trains on MNIST and
Fashion-MNIST, whose FIDs Dronen's 2019 lecture slides quote:

    G: z -> fc 1024 BN ReLU -> fc 128*7*7 BN ReLU -> (128, 7, 7) -> deconv 64 4x4 s2 BN ReLU
       -> (64, 14, 14) -> deconv C 4x4 s2 -> sigmoid -> (C, 28, 28)
    D: x -> conv 64 4x4 s2 lrelu(0.2) -> (64, 14, 14) -> conv 128 4x4 s2 BN lrelu -> (128, 7, 7)
       -> fc 1024 BN lrelu -> fc 1 -> logit

TensorFlow "SAME" padding with stride 2 and a 4x4 kernel is padding 1 here (28 -> 14 -> 7 and back).
Initialisation as compare_gan's ``ops.py``: linear and deconv weights N(0, 0.02), conv weights
N(0, 0.02) truncated at two standard deviations, all biases 0, BatchNorm gamma 1 and beta 0 with
epsilon 1e-3 (the running-average momentum is PyTorch's default, not TF's 0.999 decay).

``batchnorm=False`` removes every BatchNorm of that network (the WGAN-GP setting, whose gradient penalty
is per sample; compare_gan drops it in D only, so presets set it on the discriminator). The paper lists
ReLU in G, the default here; compare_gan's code (``abstract_gan.py`` generator) applies lrelu(0.2) there
instead, which ``leak=0.2`` gives (the ``lucic-*`` presets use it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .layers import init_normal_

_BN_EPS = 1e-3  # tf.contrib.layers.batch_norm epsilon in compare_gan


def check_28px(net: str, shape: NetShape) -> None:
    if shape.image_size != 28:
        raise GanforgeError(f"{net} supports image_size 28 only, got {shape.image_size}")


def batchnorm_or_identity(kind: type[nn.Module], n: int, on: bool) -> nn.Module:
    return kind(n, eps=_BN_EPS) if on else nn.Identity()


@GENERATORS.register("lucic-g")
class LucicGenerator(Generator):
    """Generator of the Lucic et al. 2018 small GAN (compare_gan InfoGAN architecture), sigmoid output."""

    out_range = "01"

    @dataclass
    class Args:
        batchnorm: bool = True
        leak: float = 0.0  # negative slope of G's hidden activations: 0 ReLU (paper), 0.2 compare_gan's lrelu

        def __post_init__(self) -> None:
            if isinstance(self.leak, bool) or not isinstance(self.leak, (int, float)) or not 0.0 <= self.leak < 1.0:
                raise GanforgeError(f"lucic-g option leak must be a number in [0, 1), got {self.leak!r}")

    def __init__(self, shape: NetShape, args: "LucicGenerator.Args") -> None:
        super().__init__(shape, args)
        check_28px("lucic-g", shape)
        bn = args.batchnorm
        self.fc = nn.Sequential(
            nn.Linear(shape.z_dim, 1024),  # (N, 1024)
            batchnorm_or_identity(nn.BatchNorm1d, 1024, bn),
            self.activation(),
            nn.Linear(1024, 128 * 7 * 7),  # (N, 6272)
            batchnorm_or_identity(nn.BatchNorm1d, 128 * 7 * 7, bn),
            self.activation(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1),  # (N, 64, 14, 14)
            batchnorm_or_identity(nn.BatchNorm2d, 64, bn),
            self.activation(),
            nn.ConvTranspose2d(64, shape.channels, 4, 2, 1),  # (N, C, 28, 28)
            nn.Sigmoid(),
        )
        init_normal_(self, 0.02)

    def activation(self) -> nn.Module:
        return nn.LeakyReLU(self.args.leak) if self.args.leak else nn.ReLU()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, 128, 7, 7)  # (N, 128, 7, 7)
        return self.deconv(h)  # (N, C, 28, 28)


@DISCRIMINATORS.register("lucic-d")
class LucicDiscriminator(Discriminator):
    """Discriminator of the Lucic et al. 2018 small GAN (compare_gan InfoGAN architecture), logits (N,)."""

    @dataclass
    class Args:
        batchnorm: bool = True

    def __init__(self, shape: NetShape, args: "LucicDiscriminator.Args") -> None:
        super().__init__(shape, args)
        check_28px("lucic-d", shape)
        bn = args.batchnorm
        self.net = nn.Sequential(
            nn.Conv2d(shape.channels, 64, 4, 2, 1),  # (N, 64, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1),  # (N, 128, 7, 7)
            batchnorm_or_identity(nn.BatchNorm2d, 128, bn),
            nn.LeakyReLU(0.2),
            nn.Flatten(),  # (N, 6272)
            nn.Linear(128 * 7 * 7, 1024),  # (N, 1024)
            batchnorm_or_identity(nn.BatchNorm1d, 1024, bn),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, 1),  # (N, 1)
        )
        init_normal_(self, 0.02)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # tf.truncated_normal_initializer(stddev=0.02)
                nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (N,)
