"""The importance-weighted bound on a VAE's log p(x) (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted
Autoencoders", eq. 8):

    L_k(x) = E[ log 1/k sum_{i=1..k} p(x, z_i) / q(z_i | x) ],   z_i ~ q(z | x) independently,

with L_1 the ELBO, L_k <= L_{k+1} <= log p(x) and L_k -> log p(x) as k grows (their Theorem 1). With q the
exact posterior every weight equals p(x), so the bound is exact for any k (the tests use that on a
linear-Gaussian model). This answers the VAE report's question of how far the ELBO is below log p(x).

Hand-written: a dozen lines over the model's own encoder and decoder (pythae has an IWAE *model*, not a bound
for a trained ganforge VAE).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import GanforgeError
from .ais import LogLikelihood, Prior


@dataclass
class IWAEResult:
    """Per-example (N,): the k-sample bound ``iwae`` and the mean single-sample ELBO of the same k draws."""

    iwae: torch.Tensor
    elbo: torch.Tensor


def log_normal_diag(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(logvar))) per row (M,)."""
    return -0.5 * ((z - mean).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(1)


@torch.no_grad()
def iwae_bound(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, log_lik: LogLikelihood, k: int,
               gen: torch.Generator, prior: Prior | None = None) -> IWAEResult:
    """L_k for every example of ``x`` (N, ...) given q(z | x) = N(mean, diag(exp(logvar))) (N, D) and
    ``log_lik(z, x)``; the prior is N(0, I) unless given. Draws k latents per example from ``gen``."""
    if k < 1:
        raise GanforgeError(f"IWAE needs k >= 1 importance samples, got {k}")
    n, d = mean.shape
    prior = prior or Prior("normal", d)
    eps = torch.randn((n, k, d), generator=gen).to(mean)
    z = (mean[:, None] + torch.exp(0.5 * logvar)[:, None] * eps).reshape(n * k, d)
    m, lv = (t.repeat_interleave(k, 0) for t in (mean, logvar))
    logw = (log_lik(z, x.repeat_interleave(k, 0)) + prior.log_prob(z) - log_normal_diag(z, m, lv)).view(n, k)
    logw = logw.double()
    return IWAEResult(torch.logsumexp(logw, 1) - math.log(k), logw.mean(1))
