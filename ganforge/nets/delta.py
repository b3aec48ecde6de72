"""Delta generators: an image-to-image network whose tanh output is a change added to its input image.

Basart 2017, "Analysis of Generative Adversarial Models" (University of Chicago MSc thesis), section 2.5.1:
ModNet's U-Net outputs a "delta image" that is added point-wise to the input image x; "after the
point-wise addition we either clip or renormalize and shift to bound the values into range [-1, 1]". The
two bounds are registered functions on y = x + delta (values in [-2, 2]):

- ``clip``: clamp(y, -1, 1) pixel by pixel.
- ``renorm``: per image, an affine map into [-1, 1] that leaves an image already inside it unchanged: with
  lo, hi the image's extremes, scale by s = min(1, 2 / (hi - lo)) (so the range fits) and then shift by
  the least amount that puts s * y inside [-1, 1]. The thesis does not spell out its renormalisation; this
  is the shift-and-scale that keeps G(y_t, x) = x when the delta is 0 (see ``zero_delta``), which a
  fixed (y + 2) / 2 - 1 map or a min-max stretch would not.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..registry import Registry

Bound = Callable[[torch.Tensor], torch.Tensor]
BOUNDS: Registry[Bound] = Registry("bound")


@BOUNDS.register("clip")
def clip_bound(y: torch.Tensor) -> torch.Tensor:
    """clamp(y, -1, 1) per pixel (its gradient is 0 where y is outside)."""
    return y.clamp(-1.0, 1.0)


@BOUNDS.register("renorm")
def renorm_bound(y: torch.Tensor) -> torch.Tensor:
    """Per image: scale by min(1, 2 / (max - min)), then shift the least amount into [-1, 1]."""
    flat = y.flatten(1)  # (N, C*H*W)
    lo, hi = flat.amin(dim=1), flat.amax(dim=1)  # (N,)
    scale = torch.clamp(2.0 / (hi - lo).clamp_min(1e-12), max=1.0)  # (N,)
    lo, hi = lo * scale, hi * scale
    shift = torch.where(lo < -1.0, -1.0 - lo, torch.where(hi > 1.0, 1.0 - hi, torch.zeros_like(lo)))  # (N,)
    view = (-1,) + (1,) * (y.dim() - 1)
    return (y * scale.view(view) + shift.view(view)).clamp(-1.0, 1.0)  # the clamp only removes rounding


class DeltaGenerator(nn.Module):
    """G(x, y_t) = bound(x + delta(x, y_t)) for an image-to-image ``net`` with a tanh output (the delta)."""

    def __init__(self, net: nn.Module, bound: str) -> None:
        super().__init__()
        self.net = net
        self.bound_name = bound
        self.bound = BOUNDS.get(bound)
        self.out_range = "pm1"

    def modify(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(result, delta): the bounded modification (N, C, H, W) and the network's raw delta (N, C, H, W)."""
        delta = self.net(x, labels)  # (N, C, H, W) in [-1, 1]
        return self.bound(x + delta), delta  # x + delta: (N, C, H, W) in [-2, 2]

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.modify(x, labels)[0]  # (N, C, H, W) in [-1, 1]

    def zero_delta_(self) -> None:
        """Zero the delta network's last layer: G(y_t, x) = bound(x) = x for images in [-1, 1]."""
        self.net.zero_output_()
