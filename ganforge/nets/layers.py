"""Shared network blocks: maxout units (fully connected and convolutional) and initialisers.

Maxout (Goodfellow et al. 2013, "Maxout networks") as written in the Goodfellow et al. 2014 replication
report (Villani and Eskildsen 2019, eq. 4-6): an affine map to ``units * pieces`` outputs ``z``, then the maximum over
consecutive groups of ``pieces``::

    h_i = max_{j in [iK, iK + K)} z_j            (fully connected, eq. 4-5)
    hc_{r,c,k} = max_{v in [kK, kK + K)} z_{r,c,v}   (convolutional: channels grouped the same way, eq. 6)

This matches pylearn2's ``Maxout`` / ``MaxoutConvC01B`` layers used by goodfeli/adversarial.
"""
from __future__ import annotations

import torch
from torch import nn


#: normalisation layers by name (CycleGAN's nets: ``norm`` of ``patchgan-image`` and ``resnet-g``); instance norm
#: without affine parameters or running statistics, torch's default and the CycleGAN authors' code's
NORMS = {"instance": nn.InstanceNorm2d, "batch": nn.BatchNorm2d, "none": lambda width: nn.Identity()}


def _group_max(z: torch.Tensor, units: int, pieces: int) -> torch.Tensor:
    """Max over consecutive groups of ``pieces`` along dim 1: (N, units*pieces, ...) -> (N, units, ...)."""
    return z.reshape(z.shape[0], units, pieces, *z.shape[2:]).amax(dim=2)


class Maxout(nn.Module):
    """Fully connected maxout: ``Linear(in_features, units * pieces)`` then max over groups of ``pieces``."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units = units
        self.pieces = pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)  # (N, units * pieces)
        return _group_max(z, self.units, self.pieces)  # (N, units)

    def extra_repr(self) -> str:
        return f"units={self.units}, pieces={self.pieces}"


class MaxoutConv2d(nn.Module):
    """Convolutional maxout: ``Conv2d(in_channels, channels * pieces, ...)`` then max over channel groups.

    Output channel ``k`` is the maximum of conv channels ``[k * pieces, (k + 1) * pieces)``.
    """

    def __init__(
        self, in_channels: int, channels: int, pieces: int, kernel_size: int, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.channels = channels
        self.pieces = pieces
        self.conv = nn.Conv2d(in_channels, channels * pieces, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x)  # (N, channels * pieces, H', W')
        return _group_max(z, self.channels, self.pieces)  # (N, channels, H', W')

    def extra_repr(self) -> str:
        return f"channels={self.channels}, pieces={self.pieces}"


def init_uniform_(module: nn.Module, irange: float) -> None:
    """pylearn2 ``irange`` initialisation: every Linear/Conv weight U(-irange, irange), every bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.uniform_(m.weight, -irange, irange)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_normal_(module: nn.Module, std: float = 0.02, bn_std: float | None = None) -> None:
    """Weights of Linear/Conv layers N(0, std), biases 0; BatchNorm weight N(1, bn_std) (1 if None), bias 0.

    With ``bn_std=0.02`` this is the DCGAN ``weights_init`` of pytorch/examples; with ``bn_std=None`` it
    is compare_gan's (TensorFlow) default of gamma 1, beta 0.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if bn_std is None:
                nn.init.ones_(m.weight)
            else:
                nn.init.normal_(m.weight, 1.0, bn_std)
            nn.init.zeros_(m.bias)
