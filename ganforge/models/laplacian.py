"""The networks of all LAPGAN levels as two modules: the pyramid sampler and the per-level discriminators.

Denton, Chintala, Szlam and Fergus 2015, "Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks", section 2.3. Levels are indexed as in the paper, 0 the finest and K the coarsest, and
every list here runs finest first. The model family (:mod:`.lapgan`) keeps one :class:`LaplacianGenerator`
as ``G`` (so the EMA, sampling and checkpoints see one generator) and one :class:`LaplacianDiscriminator`
as ``D``; each forward call covers every level, so a distributed wrapper sees one call per update.

A sample's latent is one row holding all the noise of the pyramid: z_K (``z_dim`` numbers, the coarse
generator's input) then the noise plane z_k of each finer level k = K-1, ..., 0 (S_k x S_k numbers each, the
"4th color plane" of section 3), so the same latent always gives the same image.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import GanforgeError
from ..nets.pyramid import upsample


class LaplacianGenerator(nn.Module):
    """G_K: z_K -> I~_K (a plain generator at the coarsest size) and G_k(l_k, z_k) -> h~_k for k < K.

    ``forward(z)`` samples by the paper's procedure (section 2.3): I~_K = G_K(z_K), then for k = K-1 .. 0
    l_k = u(I~_k+1) and I~_k = l_k + G_k(l_k, z_k); it returns I~_0. ``forward(z, lows)`` is the training
    pass: each level conditioned on the given (real) low-pass images instead of the generated ones.
    """

    def __init__(self, coarse: nn.Module, levels: list[nn.Module], sizes: list[int], z_dim: int) -> None:
        super().__init__()
        self.coarse = coarse
        self.levels = nn.ModuleList(levels)  # levels[k] is G_k, k < K
        self.sizes = list(sizes)  # side of I_k, finest first: [28, 14, 7]
        self.z_dim = z_dim
        self.out_range = coarse.out_range

    @property
    def latent_dim(self) -> int:
        """z_dim plus one noise plane per finer level: 64 + 14*14 + 28*28 = 1044 for [28, 14, 7]."""
        return self.z_dim + sum(s * s for s in self.sizes[:-1])

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A latent (N, latent_dim) -> z_K (N, z_dim) and the noise planes [z_0, ..., z_K-1], (N, 1, S_k, S_k)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise GanforgeError(f"lapgan latents are (N, {self.latent_dim}): z_dim={self.z_dim} plus one noise plane "
                                f"per finer pyramid level {self.sizes[:-1]}; got {tuple(z.shape)}")
        planes, start = [], self.z_dim
        for size in reversed(self.sizes[:-1]):  # coarse to fine, the order they are stored in
            planes.insert(0, z[:, start:start + size * size].reshape(-1, 1, size, size))
            start += size * size
        return z[:, :self.z_dim], planes

    def pyramid(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The generated Gaussian pyramid [I~_0, ..., I~_K] of latents z, each (N, C, S_k, S_k)."""
        z_coarse, planes = self.split(z)
        image = self.coarse(z_coarse)  # (N, C, S_K, S_K)
        out = [image]
        for k in reversed(range(len(self.levels))):
            low = upsample(image)  # l_k = u(I~_k+1): (N, C, S_k, S_k)
            image = low + self.levels[k](low, planes[k])  # I~_k = l_k + h~_k
            out.insert(0, image)
        return out

    def conditioned(self, z: torch.Tensor, lows: list[torch.Tensor]) -> list[torch.Tensor]:
        """[h~_0, ..., h~_K-1, I~_K]: each level's residual given the low-pass images ``lows`` = [l_0, ...,
        l_K-1], and the coarse image."""
        z_coarse, planes = self.split(z)
        residuals = [g(low, plane) for g, low, plane in zip(self.levels, lows, planes)]
        return residuals + [self.coarse(z_coarse)]

    def forward(self, z: torch.Tensor, lows: Optional[list[torch.Tensor]] = None):
        return self.pyramid(z)[0] if lows is None else self.conditioned(z, lows)


class LaplacianDiscriminator(nn.Module):
    """D_k(l_k, h) for k < K (paired discriminators) and D_K(I) (a plain one at the coarsest size)."""

    def __init__(self, coarse: nn.Module, levels: list[nn.Module]) -> None:
        super().__init__()
        self.coarse = coarse
        self.levels = nn.ModuleList(levels)  # levels[k] is D_k, k < K

    def forward(self, lows: list[torch.Tensor], outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """D's outputs for ``outputs`` = [h_0, ..., h_K-1, I_K] given ``lows`` = [l_0, ..., l_K-1], finest first."""
        judged = [d(low, h) for d, low, h in zip(self.levels, lows, outputs)]
        return judged + [self.coarse(outputs[-1])]


class PairedCritic(nn.Module):
    """D_k(l_k, .) with l_k fixed, as the one-input critic a gradient penalty differentiates."""

    def __init__(self, d: nn.Module, low: torch.Tensor) -> None:
        super().__init__()
        self.d, self.low = d, low

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.d(self.low, h)
