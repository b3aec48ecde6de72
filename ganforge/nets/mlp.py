"""Generic multilayer perceptrons for any data geometry: "mlp-g" and "mlp-d".

Both networks flatten: the generator maps z (N, z_dim) to C*H*W numbers shaped (N, C, H, W); the
discriminator flattens (N, C, H, W) and returns one logit (critic value) per example (N,). A 2-D point is
the "image" (N, 2, 1, 1), i.e. ``NetShape(channels=2, image_size=1, z_dim)``. The default sizes are those
of the toy experiments of Gulrajani et al. 2017 ("Improved Training of Wasserstein GANs", section 4 and
its ``gan_toy.py``): 3 hidden ReLU layers of 512 units in both networks, a linear last layer::

    G: z (N, z_dim) -> [Linear hidden, act] x depth -> Linear C*H*W -> output head -> (N, C, H, W)
    D: x (N, C, H, W) -> flatten -> [Linear hidden, act] x depth -> Linear 1 -> logits (N,)

Weights keep PyTorch's default ``nn.Linear`` initialisation (Kaiming-uniform with a = sqrt(5)).

Output heads. The model family reads ``G.out_range`` to map real data into the generator's range
(``Family.from_uint8``) and generated samples back to [0, 1] (``Family.to_unit``). The generator's
``output`` option picks a head from :data:`OUTPUT_HEADS`, and each head carries the range it produces:
``"tanh"`` -> ``"pm1"`` (images in [-1, 1], the default), ``"sigmoid"`` -> ``"01"`` (images in [0, 1]) and
``"identity"`` -> ``"real"``: unbounded values for data that are not images (points in R^2), which are
fed to the family as floats directly and read back from the generator's raw output. The uint8 image
conversions and ``Family.generate`` (which clamps to [0, 1]) do not apply to ``"real"`` outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import GanforgeError
from ..registry import Registry
from .base import DISCRIMINATORS, GENERATORS, Discriminator, Generator, NetShape

#: hidden-layer activations by name: a zero-argument factory each
ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("mlp activation")
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("lrelu")(lambda: nn.LeakyReLU(0.2))
ACTIVATIONS.register("elu")(nn.ELU)
ACTIVATIONS.register("tanh")(nn.Tanh)


@dataclass(frozen=True)
class OutputHead:
    """The generator's last activation and the range (``Generator.out_range``) it produces."""

    make: Callable[[], nn.Module]
    out_range: str


OUTPUT_HEADS: Registry[OutputHead] = Registry("mlp output head")
OUTPUT_HEADS.register("tanh")(OutputHead(nn.Tanh, "pm1"))
OUTPUT_HEADS.register("sigmoid")(OutputHead(nn.Sigmoid, "01"))
OUTPUT_HEADS.register("identity")(OutputHead(nn.Identity, "real"))


def _flat_size(shape: NetShape) -> int:
    return shape.channels * shape.image_size * shape.image_size


def hidden_stack(n_in: int, hidden: int, depth: int, activation: str) -> list[nn.Module]:
    """``depth`` x [Linear(hidden), activation]: (N, n_in) -> (N, hidden); depth 0 is no layer at all."""
    if hidden < 1 or depth < 0:
        raise GanforgeError(f"an MLP needs hidden >= 1 and depth >= 0, got hidden={hidden}, depth={depth}")
    act = ACTIVATIONS.get(activation)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden), act()]  # (N, hidden)
    return layers


@dataclass
class MLPBody:
    """The hidden layers both MLP nets share: ``depth`` x [Linear(hidden), activation]."""

    hidden: int = 512
    depth: int = 3
    activation: str = "relu"


@GENERATORS.register("mlp-g")
class MLPGenerator(Generator):
    """Fully connected generator for any NetShape; the output head is an option (see module docstring)."""

    @dataclass
    class Args(MLPBody):
        output: str = "tanh"

    def __init__(self, shape: NetShape, args: "MLPGenerator.Args") -> None:
        super().__init__(shape, args)
        head = OUTPUT_HEADS.get(args.output)
        self.out_range = head.out_range  # per instance: the family reads it from the built network
        body = hidden_stack(shape.z_dim, args.hidden, args.depth, args.activation)
        width = args.hidden if args.depth > 0 else shape.z_dim
        self.net = nn.Sequential(
            *body,  # (N, hidden)
            nn.Linear(width, _flat_size(shape)),  # (N, C*H*W)
            head.make(),  # (N, C*H*W) in the head's range
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        s = self.shape
        return self.net(z).view(-1, s.channels, s.image_size, s.image_size)  # (N, C, H, W)


@DISCRIMINATORS.register("mlp-d")
class MLPDiscriminator(Discriminator):
    """Fully connected discriminator (or critic) for any NetShape; returns logits, no final activation."""

    Args = MLPBody

    def __init__(self, shape: NetShape, args: MLPBody) -> None:
        super().__init__(shape, args)
        body = hidden_stack(_flat_size(shape), args.hidden, args.depth, args.activation)
        width = args.hidden if args.depth > 0 else _flat_size(shape)
        self.net = nn.Sequential(
            nn.Flatten(),  # (N, C*H*W)
            *body,  # (N, hidden)
            nn.Linear(width, 1),  # (N, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (N,)
