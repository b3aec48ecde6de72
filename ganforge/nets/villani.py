"""The "train_2" convolutional GAN of Villani and Eskildsen 2019 (AML exam report replicating Goodfellow et al.
2014, "Generative Adversarial Nets"), section 3.1.

The report's words: "we modified the CNN architecture that uses LeakyReLU activation for the convolutional
layers in the discriminator and two layers of transposed convolution, LeakyReLU and dropout for the
generator. We found this implementation gives us better results on the cifar10 dataset."

It names the layer types only, so the sizes here are ganforge's choices, kept as close as possible to the
architecture the report modified (``goodfellow-conv-d`` / ``goodfellow-conv-g``, from goodfeli/adversarial
``cifar10_convolutional.yaml``):

- ``villani-conv-d``: the three convolutions of ``goodfellow-conv-d`` (same kernels, padding, pooling and
  widths 32, 32, 192) with one channel per unit and LeakyReLU in place of conv maxout, then the same
  maxout 500x5 layer and linear logit, dropout as there (keep 0.8 at the input, 0.5 after).
- ``villani-conv-g``: ``goodfellow-conv-g``'s ReLU fully connected layer to an (80, 10, 10) map, then two
  transposed convolutions: 5x5 stride 3 -> (64, 32, 32) LeakyReLU dropout, and 5x5 stride 1 -> (C, 32, 32),
  tanh. Dropout is off when sampling (eval mode).

The LeakyReLU slope is not given; 0.2 (``leak``) is TensorFlow's ``tf.nn.leaky_relu`` default. The report's code
is TensorFlow and its initialisation is not stated either: the layers keep PyTorch's default initialisation
(pylearn2's U(-0.005, 0.005) of the maxout D would leave LeakyReLU layers with vanishing outputs).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import GanforgeError
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape
from .goodfellow import CONV_GEOMETRY, pooled_size
from .layers import Maxout

_GRID = 10  # (80, 10, 10) -> 3 * (10 - 1) + 5 = 32


def _check(net: str, name: str, value: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
        raise GanforgeError(f"{net} option {name} must be a number in [{low}, {high}), got {value!r}")
    return float(value)


@GENERATORS.register("villani-conv-g")
class VillaniConvGenerator(Generator):
    """z -> ReLU 80*10*10 -> (80, 10, 10) -> ConvT 5x5 s3 (64, 32, 32) LeakyReLU dropout -> ConvT 5x5 s1 -> tanh."""

    out_range = "pm1"

    @dataclass
    class Args:
        map_channels: int = 80
        deconv_channels: int = 64
        leak: float = 0.2
        dropout: float = 0.5  # drop probability after the first transposed convolution

        def __post_init__(self) -> None:
            _check("villani-conv-g", "leak", self.leak, 0.0, 1.0)
            _check("villani-conv-g", "dropout", self.dropout, 0.0, 1.0)

    def __init__(self, shape: NetShape, args: "VillaniConvGenerator.Args") -> None:
        super().__init__(shape, args)
        if shape.image_size != 32:
            raise GanforgeError(f"villani-conv-g supports image_size 32 only, got {shape.image_size}")
        self.fc = nn.Sequential(nn.Linear(shape.z_dim, args.map_channels * _GRID ** 2), nn.ReLU())  # (N, 8000)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(args.map_channels, args.deconv_channels, 5, 3, 0),  # (N, 64, 32, 32)
            nn.LeakyReLU(args.leak),
            nn.Dropout(args.dropout),
            nn.ConvTranspose2d(args.deconv_channels, shape.channels, 5, 1, 2),  # (N, C, 32, 32)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).view(-1, self.args.map_channels, _GRID, _GRID))  # (N, C, 32, 32)


@DISCRIMINATORS.register("villani-conv-d")
class VillaniConvDiscriminator(Discriminator):
    """``goodfellow-conv-d`` with LeakyReLU convolutions in place of conv maxout. At 32 px::

        x -> conv 8x8 pad 4, 32 lrelu (N, 32, 33, 33), pool 4 s2 -> (N, 32, 16, 16)
          -> conv 8x8 pad 3, 32 lrelu (N, 32, 15, 15), pool 4 s2 -> (N, 32, 7, 7)
          -> conv 5x5 pad 3, 192 lrelu (N, 192, 9, 9), pool 2 s2 -> (N, 192, 5, 5)
          -> maxout 500 x 5 -> (N, 500) -> linear -> logits (N,)
    """

    @dataclass
    class Args:
        channels: tuple[int, int, int] = (32, 32, 192)
        leak: float = 0.2
        fc_units: int = 500
        fc_pieces: int = 5
        input_keep: float = 0.8
        hidden_keep: float = 0.5

        def __post_init__(self) -> None:
            _check("villani-conv-d", "leak", self.leak, 0.0, 1.0)
            for name in ("input_keep", "hidden_keep"):
                if _check("villani-conv-d", name, getattr(self, name), 0.0, 1.0 + 1e-12) <= 0:
                    raise GanforgeError(f"villani-conv-d option {name} is a keep probability in (0, 1]")

    def __init__(self, shape: NetShape, args: "VillaniConvDiscriminator.Args") -> None:
        super().__init__(shape, args)
        if len(tuple(args.channels)) != len(CONV_GEOMETRY):
            raise GanforgeError(f"villani-conv-d option channels must list {len(CONV_GEOMETRY)} conv widths, "
                                f"got {list(args.channels)}")
        layers: list[nn.Module] = []
        c_in, size = shape.channels, shape.image_size
        for i, (c_out, (kernel, pad, pool, stride)) in enumerate(zip(tuple(args.channels), CONV_GEOMETRY)):
            size = pooled_size(size, kernel, pad, pool, stride)
            if size < 1:
                raise GanforgeError(f"villani-conv-d needs images of at least 10 px, got {shape.image_size}")
            layers += [
                nn.Dropout(1.0 - (args.input_keep if i == 0 else args.hidden_keep)),
                nn.Conv2d(c_in, c_out, kernel, 1, pad),  # (N, c_out, H', W')
                nn.LeakyReLU(args.leak),
                nn.MaxPool2d(pool, stride, ceil_mode=True),  # (N, c_out, size, size); 32 px: 16, 7, 5
            ]
            c_in = c_out
        self.net = nn.Sequential(
            *layers,
            nn.Flatten(),  # (N, 192 * 5 * 5) at 32 px
            nn.Dropout(1.0 - args.hidden_keep),
            Maxout(c_in * size * size, args.fc_units, args.fc_pieces),  # (N, 500)
            nn.Dropout(1.0 - args.hidden_keep),
            nn.Linear(args.fc_units, 1),  # (N, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (N,)
