"""Discriminator switches from the sources, applied after a network is built.

- Spectral normalisation (Miyato et al. 2018): every Conv/Linear layer's map divided by its weight's largest
  singular value, estimated by one power iteration per training forward (:mod:`.spectral`, which scales the
  output rather than the weight).
- Freezing the first n weight layers of D (Basart 2017, section 2.4.1): their parameters stop training.
"""
from __future__ import annotations

from torch import nn

from ..errors import GanforgeError
from .spectral import spectral_normalise

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def weight_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, WEIGHT_LAYERS)]


def apply_spectral_norm(net: nn.Module) -> None:
    for layer in weight_layers(net):
        spectral_normalise(layer)


def freeze_first_layers(net: nn.Module, n: int) -> None:
    layers = weight_layers(net)
    if not 0 <= n <= len(layers):
        raise GanforgeError(f"freeze_d_layers={n}: the discriminator has {len(layers)} weight layers")
    for layer in layers[:n]:
        layer.requires_grad_(False)
