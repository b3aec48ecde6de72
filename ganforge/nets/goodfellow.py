"""Goodfellow et al. 2014, "Generative Adversarial Nets": the MLP generator and maxout discriminators.

Architectures and initialisation follow the authors' pylearn2 configurations in goodfeli/adversarial
(``mnist.yaml`` for the MLP pair, ``cifar10_convolutional.yaml`` for the convolutional maxout
discriminator), as replicated in Villani and Eskildsen 2019 (section 2.2 and "Implementation"):

- pylearn2 ``irange: r`` means weights U(-r, r) and biases 0 (G: .05, D: .005).
- D dropout (``AdversaryCost2``): inputs to the first layer are kept with probability 0.8, inputs to
  every later layer with probability 0.5; pylearn2 rescales kept units (``input_scales`` 1.25 and 2),
  which is exactly inverted dropout (``nn.Dropout``), so eval mode needs no rescaling.
- D ends in a linear unit: it returns the logit, the sigmoid lives in the loss.
- The convolutional generator of ``cifar10_convolutional.yaml`` (the report's section 3.1: "two fully
  connected using a ReLU, a sigmoid as activation function, and an output layer which is a transposed
  convolution") is ``goodfellow-conv-g``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .layers import Maxout, MaxoutConv2d, init_uniform_


def _check_keep(name: str, value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise GanforgeError(f"{name} is a keep probability and must be in (0, 1], got {value}")
    return value


@GENERATORS.register("goodfellow-g")
class GoodfellowGenerator(Generator):
    """MLP generator of Goodfellow et al. 2014 (goodfeli/adversarial ``mnist.yaml``).

    z (N, z_dim) -> ReLU 1200 -> ReLU 1200 -> sigmoid C*H*W -> (N, C, H, W) in [0, 1].
    Weights U(-0.05, 0.05), biases 0; :meth:`init_output_bias` sets the output bias from the data
    means as pylearn2's ``init_sigmoid_bias_from_marginals`` does.
    """

    out_range = "01"

    @dataclass
    class Args:
        hidden: int = 1200

    def __init__(self, shape: NetShape, args: "GoodfellowGenerator.Args") -> None:
        super().__init__(shape, args)
        out = shape.channels * shape.image_size * shape.image_size
        self.net = nn.Sequential(
            nn.Linear(shape.z_dim, args.hidden),  # (N, 1200)
            nn.ReLU(),
            nn.Linear(args.hidden, args.hidden),  # (N, 1200)
            nn.ReLU(),
        )
        self.out = nn.Linear(args.hidden, out)  # (N, C*H*W)
        init_uniform_(self, 0.05)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        s = self.shape
        x = torch.sigmoid(self.out(self.net(z)))  # (N, C*H*W)
        return x.view(-1, s.channels, s.image_size, s.image_size)  # (N, C, H, W)

    @torch.no_grad()
    def init_output_bias(self, data_mean: torch.Tensor) -> None:
        """Output bias = logit(clip(mean, 1e-3, 1 - 1e-3)) of the per-pixel data mean (C, H, W) in [0, 1]."""
        mean = torch.as_tensor(data_mean, dtype=self.out.bias.dtype, device=self.out.bias.device)
        if mean.numel() != self.out.bias.numel():
            raise GanforgeError(
                f"data mean has {mean.numel()} values but the generator outputs {self.out.bias.numel()} pixels"
            )
        self.out.bias.copy_(torch.logit(mean.reshape(-1).clamp(1e-3, 1 - 1e-3)))


@DISCRIMINATORS.register("goodfellow-d")
class GoodfellowDiscriminator(Discriminator):
    """Maxout MLP discriminator of Goodfellow et al. 2014 (goodfeli/adversarial ``mnist.yaml``).

    x (N, C, H, W) -> flatten -> dropout(keep .8) -> maxout 240x5 -> dropout(.5) -> maxout 240x5
    -> dropout(.5) -> linear 1 -> logits (N,). Weights U(-0.005, 0.005), biases 0.
    """

    @dataclass
    class Args:
        units: int = 240
        pieces: int = 5
        input_keep: float = 0.8
        hidden_keep: float = 0.5

    def __init__(self, shape: NetShape, args: "GoodfellowDiscriminator.Args") -> None:
        super().__init__(shape, args)
        p_in = 1.0 - _check_keep("input_keep", args.input_keep)
        p_hid = 1.0 - _check_keep("hidden_keep", args.hidden_keep)
        n_in = shape.channels * shape.image_size * shape.image_size
        self.net = nn.Sequential(
            nn.Flatten(),  # (N, C*H*W)
            nn.Dropout(p_in),
            Maxout(n_in, args.units, args.pieces),  # (N, 240)
            nn.Dropout(p_hid),
            Maxout(args.units, args.units, args.pieces),  # (N, 240)
            nn.Dropout(p_hid),
            nn.Linear(args.units, 1),  # (N, 1)
        )
        init_uniform_(self, 0.005)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (N,)


# Convolutional maxout layers of cifar10_convolutional.yaml: (kernel, pad, pool, pool stride).
CONV_GEOMETRY = ((8, 4, 4, 2), (8, 3, 4, 2), (5, 3, 2, 2))


def pooled_size(size: int, kernel: int, pad: int, pool: int, stride: int) -> int:
    """Spatial size after conv (stride 1) and max pooling that covers every pixel (pylearn2: ceil)."""
    conv = size + 2 * pad - kernel + 1
    if conv < pool:
        return 0
    return math.ceil((conv - pool) / stride) + 1


@DISCRIMINATORS.register("goodfellow-conv-d")
class GoodfellowConvDiscriminator(Discriminator):
    """Convolutional maxout discriminator (goodfeli/adversarial ``cifar10_convolutional.yaml``).

    The conv maxout D of Goodfellow et al. 2014 used for CIFAR-10 and described in Villani and Eskildsen 2019
    (eq. 6: maxout over groups of conv channels): three conv maxout layers, each followed by max
    pooling, then a fully connected maxout layer and a linear logit. For 32 px::

        x (N, C, 32, 32) -> conv 8x8 pad 4, 32 ch x 2 pieces  (N, 32, 33, 33), pool 4 s2 -> (N, 32, 16, 16)
                         -> conv 8x8 pad 3, 32 ch x 2 pieces  (N, 32, 15, 15), pool 4 s2 -> (N, 32, 7, 7)
                         -> conv 5x5 pad 3, 192 ch x 2 pieces (N, 192, 9, 9), pool 2 s2 -> (N, 192, 5, 5)
                         -> maxout 500 x 5 -> (N, 500) -> linear -> logits (N,)

    (28 px ends in (N, 192, 4, 4), 64 px in (N, 192, 9, 9); images under 10 px are rejected.)

    Dropout keeps inputs to the first layer with probability 0.8 and to later layers with 0.5; weights
    U(-0.005, 0.005), biases 0 (one bias per channel: pylearn2 ``tied_b``). Pooling covers every pixel
    (ceil mode) as pylearn2's ``max_pool_c01b`` does.
    """

    @dataclass
    class Args:
        channels: tuple[int, int, int] = (32, 32, 192)
        pieces: int = 2
        fc_units: int = 500
        fc_pieces: int = 5
        input_keep: float = 0.8
        hidden_keep: float = 0.5

    def __init__(self, shape: NetShape, args: "GoodfellowConvDiscriminator.Args") -> None:
        super().__init__(shape, args)
        channels = tuple(args.channels)
        if len(channels) != len(CONV_GEOMETRY):
            raise GanforgeError(f"channels must list {len(CONV_GEOMETRY)} conv widths, got {list(channels)}")
        p_in = 1.0 - _check_keep("input_keep", args.input_keep)
        p_hid = 1.0 - _check_keep("hidden_keep", args.hidden_keep)
        layers: list[nn.Module] = []
        c_in, size = shape.channels, shape.image_size
        for i, (c_out, (kernel, pad, pool, stride)) in enumerate(zip(channels, CONV_GEOMETRY)):
            size = pooled_size(size, kernel, pad, pool, stride)
            if size < 1:
                raise GanforgeError(f"goodfellow-conv-d needs images of at least 10 px, got {shape.image_size}")
            layers += [
                nn.Dropout(p_in if i == 0 else p_hid),
                MaxoutConv2d(c_in, c_out, args.pieces, kernel, 1, pad),  # (N, c_out, H', W')
                nn.MaxPool2d(pool, stride, ceil_mode=True),  # (N, c_out, size, size); 32 px: 16, 7, 5
            ]
            c_in = c_out
        self.net = nn.Sequential(
            *layers,
            nn.Flatten(),  # (N, 192 * 5 * 5) at 32 px
            nn.Dropout(p_hid),
            Maxout(c_in * size * size, args.fc_units, args.fc_pieces),  # (N, 500)
            nn.Dropout(p_hid),
            nn.Linear(args.fc_units, 1),  # (N, 1)
        )
        init_uniform_(self, 0.005)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (N,)


# cifar10_convolutional.yaml's generator: the 8000 sigmoid units are an (80, 10, 10) map for the deconv
_G_GRID, _G_KERNEL, _G_STRIDE = 10, 5, 3


@GENERATORS.register("goodfellow-conv-g")
class GoodfellowConvGenerator(Generator):
    """Convolutional generator of goodfeli/adversarial ``cifar10_convolutional.yaml`` (32 px only).

    z (N, z_dim) -> ReLU 8000 -> sigmoid 80*10*10 -> (N, 80, 10, 10)
    -> transposed conv 5x5 stride 3 (pylearn2 ``Deconv``, ``pad_out`` 0) -> (N, C, 32, 32): 3 * (10 - 1) + 5
    -> + a bias per output pixel (``tied_b: 0``) -> tanh.

    Weights U(-0.05, 0.05) (``irange: .05``), biases 0. The yaml's output is linear on global-contrast-
    normalised CIFAR-10; ganforge's images live in [-1, 1], so a tanh bounds the output (a deviation).
    """

    out_range = "pm1"

    @dataclass
    class Args:
        hidden: int = 8000  # the ReLU layer gh0
        map_channels: int = 80  # the sigmoid layer h1 has map_channels * 10 * 10 units

    def __init__(self, shape: NetShape, args: "GoodfellowConvGenerator.Args") -> None:
        super().__init__(shape, args)
        if shape.image_size != 32:
            raise GanforgeError(f"goodfellow-conv-g supports image_size 32 only, got {shape.image_size}")
        self.fc = nn.Sequential(
            nn.Linear(shape.z_dim, args.hidden),  # (N, 8000)
            nn.ReLU(),
            nn.Linear(args.hidden, args.map_channels * _G_GRID ** 2),  # (N, 8000)
            nn.Sigmoid(),
        )
        self.deconv = nn.ConvTranspose2d(args.map_channels, shape.channels, _G_KERNEL, _G_STRIDE, 0,
                                         bias=False)  # (N, C, 32, 32)
        self.bias = nn.Parameter(torch.zeros(shape.channels, 32, 32))  # untied: one per output unit
        init_uniform_(self, 0.05)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.args.map_channels, _G_GRID, _G_GRID)  # (N, 80, 10, 10)
        return torch.tanh(self.deconv(h) + self.bias)  # (N, C, 32, 32)
