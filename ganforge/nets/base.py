"""Network registries and the typed way a network is built from config.

A generator or discriminator is an ``nn.Module`` subclass registered under a name. Its hyperparameters
are a dataclass ``Args`` nested in the class; config supplies a plain dict that is checked against the
fields of ``Args`` so a mistyped key is an error rather than silently ignored.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..config import from_dict
from ..errors import GanforgeError
from ..registry import Registry


@dataclass(frozen=True)
class NetShape:
    """What a network must fit: the data geometry and the latent/label sizes."""

    channels: int
    image_size: int
    z_dim: int
    num_classes: int = 0


class Generator(nn.Module):
    """Maps latents z (N, z_dim) to images (N, C, H, W).

    ``out_range`` says what the last activation produces: ``"01"`` (sigmoid) or ``"pm1"`` (tanh); the
    model family maps real data into the same range.
    """

    out_range: str = "pm1"
    #: False when the output layer is linear (ProGAN's toRGB): values aim at ``out_range`` but may leave it, and
    #: are clamped when turned into images
    bounded: bool = True
    #: True for conditional generators, called as ``G(z, labels)`` with int64 labels (N,).
    takes_labels: bool = False
    #: True for image-to-image generators (ModNet's U-Net), called with an image (N, C, H, W) instead of z.
    takes_images: bool = False

    @dataclass
    class Args:
        pass

    def __init__(self, shape: NetShape, args: "Generator.Args") -> None:
        super().__init__()
        self.shape = shape
        self.args = args

    def init_output_bias(self, data_mean: torch.Tensor) -> None:
        """Optional hook: set the output bias from the data mean (C, H, W) in the output range."""


class Discriminator(nn.Module):
    """Maps images (N, C, H, W) in the generator's range to one logit per image (N,).

    ``kind`` says how it is called: ``"plain"`` ``D(x) -> (N,)``; ``"conditional"`` ``D(x, labels) -> (N,)``
    (cGAN, projection); ``"auxiliary"`` ``D(x) -> ((N,), (N, K))``, a logit and class logits (ACGAN).
    Model families check it, so a network used with the wrong family is a config error.
    """

    kind: str = "plain"
    #: True when :meth:`hidden_features` gives an intermediate layer (feature matching, Salimans et al. 2016)
    has_features: bool = False

    @dataclass
    class Args:
        pass

    def __init__(self, shape: NetShape, args: "Discriminator.Args") -> None:
        super().__init__()
        self.shape = shape
        self.args = args

    def hidden_features(self, x: torch.Tensor) -> torch.Tensor:
        """An intermediate layer's activations (N, F) for images x; only networks with ``has_features``."""
        raise GanforgeError(f"discriminator {type(self).__name__} exposes no feature layer")


GENERATORS: Registry[type[Generator]] = Registry("generator", base=Generator)
DISCRIMINATORS: Registry[type[Discriminator]] = Registry("discriminator", base=Discriminator)


def make_args(cls: type, values: Mapping[str, Any], typed: bool = False) -> Any:
    """Build ``cls.Args`` from a dict, rejecting keys ``cls`` does not have; with ``typed``, also values of
    the wrong type (``width=abc``), checked as the run config's own keys are (model families and losses
    check their options themselves, in ``Args.__post_init__``)."""
    fields = {f.name for f in dataclasses.fields(cls.Args)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise GanforgeError(
            f"{cls.__name__} has no option {unknown[0]!r} (expected one of: {', '.join(sorted(fields)) or 'none'})"
        )
    return from_dict(cls.Args, dict(values), f"{cls.__name__}.") if typed else cls.Args(**values)


def build_net(registry: Registry, name: str, shape: NetShape, values: Mapping[str, Any]) -> nn.Module:
    """Construct the network ``name`` from ``registry`` for ``shape`` with options ``values``; options of
    the wrong type, or that torch cannot build layers from (``width=-3``), are a user error naming it."""
    cls = registry.get(name)
    args = make_args(cls, values, typed=True)
    try:
        return cls(shape, args)
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        raise GanforgeError(f"{name}: cannot build it with {dict(values)} for {shape.channels}x{shape.image_size}"
                            f"x{shape.image_size} images ({' '.join(str(exc).split())[:160]})") from None


def build_from_spec(registry: Registry, spec: Mapping[str, Any], shape: NetShape, key: str) -> nn.Module:
    """Build from a config section ``{name: ..., option: value, ...}`` found at ``model.<key>``."""
    if "name" not in spec:
        raise GanforgeError(f"config model.{key} needs a 'name' (one of: {', '.join(registry.names())})")
    return build_net(registry, spec["name"], shape, {k: v for k, v in spec.items() if k != "name"})
