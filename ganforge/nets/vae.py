"""VAE networks: Gaussian encoders (their own registry) and Bernoulli decoders (registered as generators).

An encoder maps images x (N, C, H, W) in [0, 1] to the mean and log-variance (N, z_dim) each of the
diagonal Gaussian q(z|x) of Kingma & Welling 2014 ("Auto-Encoding Variational Bayes", appendix C.2). A
decoder maps z (N, z_dim) to the logits of independent Bernoulli pixels (:meth:`Decoder.logits`, what the
loss uses in its stable logit form); its ``forward`` is their sigmoid, the pixel means in [0, 1], so a
decoder is also an ordinary ``"01"`` generator that the sampling code, EMA and the grids call unchanged.

Two pairs:

- ``vae-mlp-enc`` / ``vae-mlp-dec``, Skliar's report (Q1.12): one hidden layer of 500 ReLU units each way, two
  separate linear heads for the mean and the log-variance, sigmoid outputs (Kingma & Welling used 500
  hidden units on MNIST too). PyTorch's default layer initialisation. Any image geometry.
- ``lucic-vae-enc`` / ``lucic-vae-dec``: the VAE of google/compare_gan (``src/gans/VAE.py``) that Lucic
  et al. 2018 score (FID table in Dronen 2019). Its encoder is the trunk of the small Lucic discriminator
  with a linear head of 2 * z_dim numbers, its decoder the small Lucic generator
  (:mod:`ganforge.nets.lucic`, with its initialisation). compare_gan reads the second half of the head as
  sigma = 1e-6 + softplus(h); ``scale="softplus"`` does the same and hands on log(sigma^2), while
  ``scale="logvar"`` reads h as the log-variance directly (the MLP's parameterisation). 28x28 only.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from ..registry import Registry
from .base import GENERATORS, Generator, NetShape
from .lucic import LucicDiscriminator, LucicGenerator


class Encoder(nn.Module):
    """Maps images (N, C, H, W) to the mean and log-variance (N, z_dim) each of q(z|x)."""

    @dataclass
    class Args:
        pass

    def __init__(self, shape: NetShape, args: "Encoder.Args") -> None:
        super().__init__()
        self.shape = shape
        self.args = args


ENCODERS: Registry[type[Encoder]] = Registry("encoder", base=Encoder)


class Decoder(Generator, abc.ABC):
    """A Bernoulli decoder: :meth:`logits` (N, C, H, W) for the loss, ``forward`` = their sigmoid."""

    out_range = "01"

    @abc.abstractmethod
    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs (N, C, H, W) for latents z (N, z_dim)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))  # (N, C, H, W) pixel means in [0, 1]


@ENCODERS.register("vae-mlp-enc")
class MLPEncoder(Encoder):
    """x (N, C, H, W) -> flatten -> Linear 500 -> ReLU -> (Linear z_dim: mean, Linear z_dim: log-variance)."""

    @dataclass
    class Args:
        hidden: int = 500

    def __init__(self, shape: NetShape, args: "MLPEncoder.Args") -> None:
        super().__init__(shape, args)
        pixels = shape.channels * shape.image_size * shape.image_size
        self.body = nn.Sequential(
            nn.Flatten(),  # (N, C*H*W)
            nn.Linear(pixels, args.hidden),  # (N, 500)
            nn.ReLU(),
        )
        self.mean = nn.Linear(args.hidden, shape.z_dim)  # (N, z_dim)
        self.logvar = nn.Linear(args.hidden, shape.z_dim)  # (N, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mean(h), self.logvar(h)


@GENERATORS.register("vae-mlp-dec")
class MLPDecoder(Decoder):
    """z (N, z_dim) -> Linear 500 -> ReLU -> Linear C*H*W -> logits (N, C, H, W); sigmoid in ``forward``."""

    @dataclass
    class Args:
        hidden: int = 500

    def __init__(self, shape: NetShape, args: "MLPDecoder.Args") -> None:
        super().__init__(shape, args)
        pixels = shape.channels * shape.image_size * shape.image_size
        self.net = nn.Sequential(
            nn.Linear(shape.z_dim, args.hidden),  # (N, 500)
            nn.ReLU(),
            nn.Linear(args.hidden, pixels),  # (N, C*H*W)
        )

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        s = self.shape
        return self.net(z).view(-1, s.channels, s.image_size, s.image_size)  # (N, C, H, W)


#: how the second half of the Lucic encoder's head becomes a log-variance
SCALES: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("encoder scale")


@SCALES.register("softplus")
def _softplus_scale(h: torch.Tensor) -> torch.Tensor:
    """compare_gan: sigma = 1e-6 + softplus(h); returns log(sigma^2)."""
    return 2.0 * torch.log(1e-6 + F.softplus(h))


@SCALES.register("logvar")
def _logvar_scale(h: torch.Tensor) -> torch.Tensor:
    """h is the log-variance itself (Skliar's parameterisation)."""
    return h


@ENCODERS.register("lucic-vae-enc")
class LucicEncoder(Encoder):
    """compare_gan's VAE encoder: the Lucic discriminator's trunk, then a head for mean and scale.

    x (N, C, 28, 28) -> conv 64 4x4 s2 lrelu (N, 64, 14, 14) -> conv 128 4x4 s2 [BN] lrelu (N, 128, 7, 7)
    -> fc 1024 [BN] lrelu (N, 1024) -> fc 2 * z_dim -> mean (N, z_dim), log-variance (N, z_dim).
    ``batchnorm`` is compare_gan's ``discriminator_batchnorm`` (off by default for its VAE).
    """

    @dataclass
    class Args:
        batchnorm: bool = False
        scale: str = "softplus"

    def __init__(self, shape: NetShape, args: "LucicEncoder.Args") -> None:
        super().__init__(shape, args)
        self.to_logvar = SCALES.get(args.scale)
        if shape.image_size != 28:
            raise GanforgeError(f"lucic-vae-enc supports image_size 28 only, got {shape.image_size}")
        trunk = LucicDiscriminator(shape, LucicDiscriminator.Args(batchnorm=args.batchnorm)).net
        self.body = trunk[:-1]  # without D's logit layer: (N, 1024)
        self.head = nn.Linear(1024, 2 * shape.z_dim)  # (N, 2 * z_dim)
        nn.init.normal_(self.head.weight, 0.0, 0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.head(self.body(x)).chunk(2, dim=1)  # (N, z_dim) each
        return mean, self.to_logvar(raw)


@GENERATORS.register("lucic-vae-dec")
class LucicDecoder(Decoder, LucicGenerator):
    """compare_gan's VAE decoder, the Lucic generator: z -> fc 1024 BN ReLU -> fc 128*7*7 BN ReLU
    -> (N, 128, 7, 7) -> deconv 64 4x4 s2 BN ReLU (N, 64, 14, 14) -> deconv C 4x4 s2 -> logits (N, C, 28, 28)."""

    out_range = "01"

    @dataclass
    class Args:
        batchnorm: bool = True

    def __init__(self, shape: NetShape, args: "LucicDecoder.Args") -> None:
        if shape.image_size != 28:
            raise GanforgeError(f"lucic-vae-dec supports image_size 28 only, got {shape.image_size}")
        super().__init__(shape, args)

    def activation(self) -> nn.Module:
        return nn.ReLU()  # compare_gan's VAE.py decoder uses tf.nn.relu

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, 128, 7, 7)  # (N, 128, 7, 7)
        return self.deconv[:-1](h)  # (N, C, 28, 28): the generator without its final sigmoid
