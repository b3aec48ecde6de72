"""The 32 px convolutional WGAN-GP networks of Gulrajani et al. 2017, "Improved Training of Wasserstein GANs".

The "DCGAN-like" (ResNet-free) CIFAR-10 generator and critic of the authors' ``gan_cifar.py``
(igul222/improved_wgan_training, ``MODE = 'wgan-gp'``, ``DIM = 128``), with ``width`` = DIM:

    G: z (N, 128) -> linear 4*4*4*DIM -> BN ReLU -> (N, 4DIM, 4, 4)
       -> deconv 5x5 s2 2DIM BN ReLU -> (N, 2DIM, 8, 8) -> deconv 5x5 s2 DIM BN ReLU -> (N, DIM, 16, 16)
       -> deconv 5x5 s2 C -> tanh -> (N, C, 32, 32)
    D: x (N, C, 32, 32) -> conv 5x5 s2 DIM lrelu(0.2) -> (N, DIM, 16, 16) -> conv 5x5 s2 2DIM lrelu
       -> (N, 2DIM, 8, 8) -> conv 5x5 s2 4DIM lrelu -> (N, 4DIM, 4, 4) -> linear 1 -> critic value (N,)

No batch norm in the critic (the gradient penalty is per example; ``gan_cifar.py`` drops it in wgan-gp mode).
Every layer has a bias. TensorFlow's "SAME" padding is reproduced exactly: a 5x5 stride-2 convolution of an
even-sized input pads 1 before and 2 after (``ZeroPad2d``), and its transpose crops 1 before and 2 after.
Initialisation is tflib's: weights uniform in +-sqrt(3) std with std sqrt(4 / (fan_in + fan_out)) for
(de)convolutions (fan of the strided side divided by 4) and sqrt(2 / (in + out)) for linear layers (Glorot);
biases 0; BN gamma 1, beta 0. One deviation: ``gan_cifar.py`` normalises with batch statistics even when
sampling, while here eval mode (sampling) uses the running averages, as every ganforge network does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape

_KERNEL, _STRIDE = 5, 2


def _check_32px(net: str, shape: NetShape) -> None:
    if shape.image_size != 32:
        raise GanforgeError(f"{net} supports image_size 32 only (Gulrajani et al.'s CIFAR-10 nets), "
                            f"got {shape.image_size}")


class CropAfter(nn.Module):
    """Drops the last ``n`` rows and columns: (N, C, H, W) -> (N, C, H - n, W - n)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., : x.shape[-2] - self.n, : x.shape[-1] - self.n]


def same_conv(c_in: int, c_out: int) -> list[nn.Module]:
    """TF ``conv2d`` 5x5 stride 2 "SAME" on an even size H: pad (1 before, 2 after) -> H/2."""
    return [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(c_in, c_out, _KERNEL, _STRIDE, 0)]


def same_deconv(c_in: int, c_out: int) -> list[nn.Module]:
    """TF ``conv2d_transpose`` 5x5 stride 2 "SAME" to 2H: the full 2H + 3 output cropped (1 before, 2 after)."""
    return [nn.ConvTranspose2d(c_in, c_out, _KERNEL, _STRIDE, 1), CropAfter(1)]


def init_tflib_(module: nn.Module) -> None:
    """tflib's initialisation (``tflib/ops``): U(-sqrt(3) s, sqrt(3) s), biases 0 (see the module docstring)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            std = math.sqrt(2.0 / (m.in_features + m.out_features))
        elif isinstance(m, nn.Conv2d):  # he_init: fan_out of a stride-2 conv / 4
            k2 = m.kernel_size[0] * m.kernel_size[1]
            std = math.sqrt(4.0 / (m.in_channels * k2 + m.out_channels * k2 / m.stride[0] ** 2))
        elif isinstance(m, nn.ConvTranspose2d):  # he_init: fan_in of a stride-2 deconv / 4
            k2 = m.kernel_size[0] * m.kernel_size[1]
            std = math.sqrt(4.0 / (m.in_channels * k2 / m.stride[0] ** 2 + m.out_channels * k2))
        else:
            continue
        nn.init.uniform_(m.weight, -std * math.sqrt(3.0), std * math.sqrt(3.0))
        nn.init.zeros_(m.bias)


@GENERATORS.register("wgangp-g")
class WGANGPGenerator(Generator):
    """Gulrajani et al. 2017 CIFAR-10 generator (``gan_cifar.py``), tanh output in [-1, 1]."""

    out_range = "pm1"

    @dataclass
    class Args:
        width: int = 128  # DIM

    def __init__(self, shape: NetShape, args: "WGANGPGenerator.Args") -> None:
        super().__init__(shape, args)
        _check_32px("wgangp-g", shape)
        d = args.width
        self.fc = nn.Sequential(
            nn.Linear(shape.z_dim, 4 * 4 * 4 * d),  # (N, 4*4*4*DIM)
            nn.BatchNorm1d(4 * 4 * 4 * d),  # Generator.BN1, axes [0]: one mean per unit
            nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            *same_deconv(4 * d, 2 * d), nn.BatchNorm2d(2 * d), nn.ReLU(),  # (N, 2DIM, 8, 8)
            *same_deconv(2 * d, d), nn.BatchNorm2d(d), nn.ReLU(),  # (N, DIM, 16, 16)
            *same_deconv(d, shape.channels), nn.Tanh(),  # (N, C, 32, 32)
        )
        init_tflib_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, 4 * self.args.width, 4, 4)  # (N, 4DIM, 4, 4)
        return self.deconv(h)  # (N, C, 32, 32)


@DISCRIMINATORS.register("wgangp-d")
class WGANGPDiscriminator(Discriminator):
    """Gulrajani et al. 2017 CIFAR-10 critic (``gan_cifar.py``, wgan-gp mode: no batch norm), values (N,)."""

    has_features = True

    @dataclass
    class Args:
        width: int = 128  # DIM

    def __init__(self, shape: NetShape, args: "WGANGPDiscriminator.Args") -> None:
        super().__init__(shape, args)
        _check_32px("wgangp-d", shape)
        d = args.width
        self.body = nn.Sequential(
            *same_conv(shape.channels, d), nn.LeakyReLU(0.2),  # (N, DIM, 16, 16)
            *same_conv(d, 2 * d), nn.LeakyReLU(0.2),  # (N, 2DIM, 8, 8)
            *same_conv(2 * d, 4 * d), nn.LeakyReLU(0.2),  # (N, 4DIM, 4, 4)
            nn.Flatten(),  # (N, 4*4*4*DIM)
        )
        self.out = nn.Linear(4 * 4 * 4 * d, 1)  # (N, 1)
        init_tflib_(self)

    def hidden_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (N, 4*4*4*DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x)).view(-1)  # (N,)
