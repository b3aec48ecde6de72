"""Time-conditioned denoising networks (their own registry, ``DENOISERS``) for the iterative families
(``ddpm``, ``flow``): a network eps_theta(x_t, t[, y]) or v_theta(x_t, t[, y]) with the shape of its input.

``time-unet`` is a small version of the U-Net of Ho et al. 2020 ("Denoising Diffusion Probabilistic Models",
appendix B), itself the PixelCNN++ U-Net with a time input:

- the time t (a float per image, on the scale of the 1000 diffusion steps: the ``flow`` family passes
  1000 t for t in [0, 1]) enters as the sinusoidal embedding of Vaswani et al. 2017 ("Attention Is All You
  Need", section 3.5), PE(t)_{2i} = sin(t / 10000^{2i/d}), PE(t)_{2i+1} = cos(t / 10000^{2i/d}) (here the
  d/2 sines first, then the cosines), followed by Linear -> SiLU -> Linear to 4 * width;
- residual blocks GroupNorm -> SiLU -> conv 3x3 -> (+ projected time embedding) -> GroupNorm -> SiLU ->
  dropout -> conv 3x3 (zero-initialised, as Ho et al.'s code does, so each block starts as the identity),
  with a 1x1 conv on the skip path when the width changes;
- optional single-head self-attention (GroupNorm, 1x1 q/k/v, softmax(q^T k / sqrt(c)), 1x1 out
  zero-initialised, residual) between the two residual blocks at the lowest resolution;
- optional class conditioning: a learned embedding of K + 1 rows added to the time embedding, where row K
  is the null class used for classifier-free guidance (Ho and Salimans 2021, "Classifier-Free Diffusion
  Guidance": the same network is trained with and without the label).

Downsampling reuses the ModNet U-Net's encoder geometry (``ganforge.nets.unet``): conv 4x4 stride 2 padding
1, whose sizes ``encoder_sizes`` computes and checks (28 -> 14 -> 7, 32 -> 16 -> 8). ModNet's other blocks do
not fit a denoiser and are not reused: its BatchNorm makes the output of one image depend on the others in
the batch (and EMA weights would need standing statistics), and its tanh output cannot produce the unbounded
noise or velocity the loss asks for. Upsampling is nearest-neighbour to the size of the skip it joins, then
conv 3x3, so odd sizes come back exactly.

With the defaults (width 32, ``mults`` [1, 2, 2], one block per level, attention on) the network has
1,098,337 parameters for one channel without classes (1,099,745 with 10 classes); with width 16 and
``mults`` [1, 2, 4] (the ``ddpm-fashion`` and ``flow-fashion`` presets) it has 645,425.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from ..registry import Registry
from .base import NetShape
from .unet import encoder_sizes


class Denoiser(nn.Module):
    """Maps (x_t (N, C, H, W), t (N,) float, labels (N,) int64 or None) to a tensor of x_t's shape.

    ``num_classes`` is K for a class-conditional network (labels in 0..K, where K is the null class), else 0.
    """

    @dataclass
    class Args:
        pass

    def __init__(self, shape: NetShape, args: "Denoiser.Args") -> None:
        super().__init__()
        self.shape = shape
        self.args = args
        self.num_classes = shape.num_classes if shape.num_classes >= 2 else 0


DENOISERS: Registry[type[Denoiser]] = Registry("denoiser", base=Denoiser)


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Vaswani et al. 2017, section 3.5, for float times t (N,): [sin(t w_i), cos(t w_i)] with
    w_i = max_period^(-i / (dim/2)), i = 0 .. dim/2 - 1; shape (N, dim) (``dim`` even)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]  # (N, dim/2)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)  # (N, dim)


class ResBlock(nn.Module):
    """(N, cin, H, W) + time embedding (N, temb) -> (N, cout, H, W) (Ho et al. 2020, appendix B)."""

    def __init__(self, cin: int, cout: int, temb: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)  # (N, cout, H, W)
        self.time = nn.Linear(temb, cout)  # (N, cout), added to every pixel
        self.norm2 = nn.GroupNorm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)  # (N, cout, H, W)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()  # (N, cout, H, W)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (N, cout, H, W)
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))  # (N, cout, H, W)
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the H*W positions, residual: (N, c, H, W) -> (N, c, H, W)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)  # (N, 3c, H, W)
        self.out = nn.Conv2d(channels, channels, 1)  # (N, c, H, W)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)  # (N, c, HW) each
        weights = torch.softmax(torch.einsum("ncq,nck->nqk", q, k) / math.sqrt(c), dim=2)  # (N, HW, HW)
        attended = torch.einsum("nqk,nck->ncq", weights, v).reshape(n, c, h, w)  # (N, c, H, W)
        return x + self.out(attended)


class Upsample(nn.Module):
    """Nearest-neighbour to ``size`` x ``size``, then conv 3x3: (N, c, s, s) -> (N, c, size, size)."""

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=(self.size, self.size), mode="nearest"))


@DENOISERS.register("time-unet")
class TimeUNet(Denoiser):
    """A small DDPM U-Net: ``len(mults)`` resolutions with ``blocks`` residual blocks each on the way down
    (``blocks + 1`` on the way up), widths ``width * mults[i]``, optional attention at the lowest resolution."""

    @dataclass
    class Args:
        width: int = 32
        mults: list[int] = field(default_factory=lambda: [1, 2, 2])
        blocks: int = 1
        attention: bool = True
        dropout: float = 0.0
        groups: int = 8

    def __init__(self, shape: NetShape, args: "TimeUNet.Args") -> None:
        super().__init__(shape, args)
        widths = self._check(shape, args)
        self.sizes = encoder_sizes(shape.image_size, len(widths) - 1)  # e.g. [28, 14, 7]
        w, temb, g = args.width, 4 * args.width, args.groups
        self.time = nn.Sequential(nn.Linear(w, temb), nn.SiLU(), nn.Linear(temb, temb))  # (N, 4w)
        self.label = nn.Embedding(self.num_classes + 1, temb) if self.num_classes else None  # (N, 4w), row K null
        self.stem = nn.Conv2d(shape.channels, w, 3, padding=1)  # (N, w, S, S)
        self.down, skips, cin = nn.ModuleList(), [w], w
        for i, width in enumerate(widths):  # level i at size sizes[i]
            for _ in range(args.blocks):
                self.down.append(ResBlock(cin, width, temb, g, args.dropout))  # (N, width, s_i, s_i)
                cin = width
                skips.append(cin)
            if i < len(widths) - 1:
                self.down.append(nn.Conv2d(cin, cin, 4, 2, 1))  # (N, cin, s_{i+1}, s_{i+1})
                skips.append(cin)
        self.mid1 = ResBlock(cin, cin, temb, g, args.dropout)  # (N, c, s_last, s_last)
        self.attn = SelfAttention(cin, g) if args.attention else nn.Identity()
        self.mid2 = ResBlock(cin, cin, temb, g, args.dropout)
        self.up = nn.ModuleList()
        for i in reversed(range(len(widths))):
            for _ in range(args.blocks + 1):  # each joins one skip: (N, cin + skip, s_i, s_i) -> (N, width, s_i, s_i)
                self.up.append(ResBlock(cin + skips.pop(), widths[i], temb, g, args.dropout))
                cin = widths[i]
            if i > 0:
                self.up.append(Upsample(cin, self.sizes[i - 1]))  # (N, cin, s_{i-1}, s_{i-1})
        self.out = nn.Sequential(nn.GroupNorm(g, cin), nn.SiLU(), nn.Conv2d(cin, shape.channels, 3, padding=1))
        nn.init.zeros_(self.out[2].weight)  # (N, C, S, S): zero at the start, as in Ho et al.'s code
        nn.init.zeros_(self.out[2].bias)

    @staticmethod
    def _check(shape: NetShape, args: "TimeUNet.Args") -> list[int]:
        if args.width <= 0 or args.width % 2 or not args.mults or min(args.mults) <= 0 or args.blocks <= 0:
            raise GanforgeError(f"time-unet: width must be a positive even number and mults, blocks positive "
                                f"(got width={args.width}, mults={args.mults}, blocks={args.blocks})")
        widths = [args.width * m for m in args.mults]
        if args.groups <= 0 or any(c % args.groups for c in widths):
            raise GanforgeError(f"time-unet: groups={args.groups} must divide every width {widths}")
        if not 0.0 <= args.dropout < 1.0:
            raise GanforgeError(f"time-unet: dropout must be in [0, 1), got {args.dropout}")
        return widths

    def embed(self, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """The time (and class) embedding (N, 4 * width); missing labels mean the null class."""
        temb = self.time(sinusoidal_embedding(t, self.args.width))  # (N, 4w)
        if self.label is None:
            return temb
        if labels is None:
            labels = torch.full((len(t),), self.num_classes, dtype=torch.int64, device=t.device)
        return temb + self.label(labels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        temb = self.embed(t, labels)
        h = self.stem(x)  # (N, w, S, S)
        skips = [h]
        for layer in self.down:
            h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        h = self.mid2(self.attn(self.mid1(h, temb)), temb)  # (N, c, s_last, s_last)
        for layer in self.up:
            h = layer(torch.cat([h, skips.pop()], dim=1), temb) if isinstance(layer, ResBlock) else layer(h)
        return self.out(h)  # (N, C, S, S)
