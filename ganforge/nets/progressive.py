"""Building blocks of progressively grown networks: Karras, Aila, Laine and Lehtinen 2018, "Progressive Growing
of GANs for Improved Quality, Stability, and Variation" (ICLR 2018).

- Equalised learning rate (section 4.1): weights are stored N(0, 1) and scaled at run time by He's constant
  c = gain / sqrt(fan_in), w_hat = c w, so an adaptive optimiser (Adam) moves every layer's effective weights
  by the same amount relative to their scale. Written as Conv2d / Linear subclasses whose forward uses c w;
  the stored parameter is w, which is what the optimiser sees.
- Pixelwise feature vector normalisation (section 4.2): b_xy = a_xy / sqrt(mean_j (a_xy^j)^2 + 1e-8).
- Minibatch standard deviation (section 3): the standard deviation of every feature at every position over
  the minibatch (or over groups of it), averaged into one number, appended as a constant feature map.
- Fade-in (section 2, Fig. 2): x = (1 - alpha) upsample(old) + alpha new, nearest-neighbour doubling in G and
  2x2 average pooling in D; real images are shown at the current resolution, blended the same way during a
  fade (the authors' released code, ``process_reals``).

Written by hand: torch has none of these layers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError

HE_GAIN = math.sqrt(2.0)
PIXEL_NORM_EPS = 1e-8


class EqualizedConv2d(nn.Conv2d):
    """A convolution with weights N(0, 1) used as c w, c = gain / sqrt(in_channels k^2) (section 4.1);
    'same' padding for odd kernels unless ``padding`` is given; biases start at 0."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = HE_GAIN, padding: int | None = None):
        super().__init__(c_in, c_out, kernel, padding=kernel // 2 if padding is None else padding)
        self.scale = gain / math.sqrt(c_in * kernel * kernel)
        nn.init.normal_(self.weight, 0.0, 1.0)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale:.4g}"


class EqualizedLinear(nn.Linear):
    """A fully connected layer with weights N(0, 1) used as c w, c = gain / sqrt(in_features) (section 4.1)."""

    def __init__(self, in_features: int, out_features: int, gain: float = HE_GAIN) -> None:
        super().__init__(in_features, out_features)
        self.scale = gain / math.sqrt(in_features)
        nn.init.normal_(self.weight, 0.0, 1.0)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale:.4g}"


def pixel_norm(a: torch.Tensor, eps: float = PIXEL_NORM_EPS) -> torch.Tensor:
    """b = a / sqrt(mean over channels of a^2 + eps) at every position (section 4.2, eq. in text); (N, C, ...)."""
    return a * torch.rsqrt(a.pow(2).mean(dim=1, keepdim=True) + eps)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(x)


def minibatch_stddev(x: torch.Tensor, group: int = 0, eps: float = 1e-8) -> torch.Tensor:
    """Append the mean standard deviation over the minibatch as one more feature map (section 3):
    (N, C, H, W) -> (N, C + 1, H, W).

    The standard deviation (population form, sqrt(var + eps)) of each feature at each position is taken over
    the images of a group, then averaged over features and positions; ``group`` 0 takes the whole minibatch as
    the paper's text does, ``group`` G > 0 splits it into N / G groups of G images (the authors' code uses 4).
    """
    n, c, h, w = x.shape
    g = n if group == 0 else min(group, n)
    if n % g:
        raise GanforgeError(f"minibatch stddev: group {g} does not divide the batch of {n} images "
                            f"(choose a batch_size that is a multiple of it, or group 0)")
    y = x.float().reshape(g, n // g, c, h, w)  # image i is in group i mod (N/G), as in the authors' code
    std = (y - y.mean(dim=0, keepdim=True)).pow(2).mean(dim=0).add(eps).sqrt()  # (N/G, C, H, W)
    stat = std.mean(dim=(1, 2, 3)).to(x.dtype)  # (N/G,)
    feature = stat.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)  # (N, 1, H, W)
    return torch.cat([x, feature], dim=1)


class MinibatchStdDev(nn.Module):
    """:func:`minibatch_stddev` as a layer: (N, C, H, W) -> (N, C + 1, H, W)."""

    def __init__(self, group: int = 0) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group)

    def extra_repr(self) -> str:
        return f"group={self.group or 'minibatch'}"


def upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour enlargement by ``factor``: (N, C, H, W) -> (N, C, fH, fW)."""
    return x if factor == 1 else x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def downsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Average pooling by ``factor``: (N, C, H, W) -> (N, C, H/f, W/f)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def fade_in(old: torch.Tensor, new: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 - alpha) old + alpha new: the new layers' output blended with the old path's (section 2, Fig. 2)."""
    return new if alpha >= 1.0 else torch.lerp(old, new, alpha)


def reals_at(x: torch.Tensor, factor: int, alpha: float) -> torch.Tensor:
    """Real images (N, C, H, W) as the networks see them at a stage ``factor`` times smaller than full size,
    ``alpha`` into its fade: pooled to that resolution, blended with their half-resolution version while
    fading, and enlarged back to full size (the authors' ``process_reals``): (N, C, H, W)."""
    x = downsample(x, factor)
    if alpha < 1.0:
        x = fade_in(upsample(downsample(x)), x, alpha)
    return upsample(x, factor)
