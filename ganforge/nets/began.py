"""Autoencoder discriminators for BEGAN (Berthelot et al. 2017, "BEGAN: Boundary Equilibrium GANs").

In BEGAN the discriminator is an autoencoder D: x -> reconstruction of x, and "how real" an image looks is
its reconstruction error L(v) = |v - D(v)|^eta (section 3.1). That does not fit the
:class:`~ganforge.nets.base.Discriminator` contract (one logit per image): put into the ``gan`` family with
a logit loss, an autoencoder would return an image where a logit is expected. So autoencoder
discriminators have a registry of their own, :data:`AUTOENCODERS`, that only the ``began`` family reads
(its ``model.discriminator`` names an entry here). An autoencoder returns the reconstruction, not the
error: the family owns the loss (and its exponent eta), the network owns only the mapping.

``lucic-began-d`` is the BEGAN discriminator of google/compare_gan (``src/gans/BEGAN.py``), the code behind
Lucic et al. 2018 "Are GANs Created Equal?" (BEGAN row of the Fashion-MNIST FID table in Dronen 2019, FID
22.9). It reuses the two convolutions of the small Lucic discriminator as encoder and mirrors the small
Lucic generator as decoder:

    x (C, 28, 28) -> conv 64 4x4 s2 lrelu(0.2) -> (64, 14, 14) -> conv 128 4x4 s2 -> (128, 7, 7)
      -> fc code_dim [BN] lrelu -> code (code_dim,)
      -> fc 128*7*7 [BN] lrelu -> (128, 7, 7) -> deconv 64 4x4 s2 [BN] lrelu -> (64, 14, 14)
      -> deconv C 4x4 s2 -> sigmoid -> (C, 28, 28)

As in compare_gan there is no activation between the second convolution and the code layer and the code has
64 units. Batch norm ([BN]) is off by default, as compare_gan's BEGANHyperParams (``params.py``) set
``discriminator_batchnorm`` False for BEGAN; ``batchnorm=True`` adds it (the other value of that study
range). Initialisation as the other Lucic networks (compare_gan ``ops.py``): conv weights N(0, 0.02) truncated at two standard deviations,
linear and deconv weights N(0, 0.02), biases 0, BatchNorm gamma 1, beta 0, epsilon 1e-3.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import Registry
from .base import NetShape
from .layers import init_normal_
from .lucic import batchnorm_or_identity, check_28px


class AutoencoderDiscriminator(nn.Module):
    """Maps images (N, C, H, W) in the generator's range to reconstructions of the same shape and range.

    ``out_range`` is the range of the reconstruction: ``"01"`` (sigmoid) or ``"pm1"`` (tanh); the family
    checks that it matches the generator's.
    """

    out_range: str = "01"

    @dataclass
    class Args:
        pass

    def __init__(self, shape: NetShape, args: "AutoencoderDiscriminator.Args") -> None:
        super().__init__()
        self.shape = shape
        self.args = args


AUTOENCODERS: Registry[type[AutoencoderDiscriminator]] = Registry("autoencoder discriminator",
                                                                  base=AutoencoderDiscriminator)


@AUTOENCODERS.register("lucic-began-d")
class LucicBeganAutoencoder(AutoencoderDiscriminator):
    """compare_gan's BEGAN autoencoder for 28x28 images (Lucic et al. 2018), sigmoid reconstruction."""

    out_range = "01"

    @dataclass
    class Args:
        code_dim: int = 64
        batchnorm: bool = False

    def __init__(self, shape: NetShape, args: "LucicBeganAutoencoder.Args") -> None:
        super().__init__(shape, args)
        check_28px("lucic-began-d", shape)
        bn, c = args.batchnorm, shape.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(c, 64, 4, 2, 1),  # (N, 64, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1),  # (N, 128, 7, 7)
            nn.Flatten(),  # (N, 6272)
            nn.Linear(128 * 7 * 7, args.code_dim),  # (N, code_dim)
            batchnorm_or_identity(nn.BatchNorm1d, args.code_dim, bn),
            nn.LeakyReLU(0.2),
        )
        self.expand = nn.Sequential(
            nn.Linear(args.code_dim, 128 * 7 * 7),  # (N, 6272)
            batchnorm_or_identity(nn.BatchNorm1d, 128 * 7 * 7, bn),
            nn.LeakyReLU(0.2),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1),  # (N, 64, 14, 14)
            batchnorm_or_identity(nn.BatchNorm2d, 64, bn),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(64, c, 4, 2, 1),  # (N, C, 28, 28)
            nn.Sigmoid(),
        )
        init_normal_(self, 0.02)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # tf.truncated_normal_initializer(stddev=0.02)
                nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (N, code_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(self.encode(x)).view(-1, 128, 7, 7)  # (N, 128, 7, 7)
        return self.decoder(h)  # (N, C, 28, 28)
