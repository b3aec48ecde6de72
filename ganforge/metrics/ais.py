"""Annealed importance sampling (AIS) of log p(x) for decoder-based models, and its BDMC sandwich.

Wu, Burda, Salakhutdinov & Grosse 2017, "On the Quantitative Analysis of Decoder-Based Generative Models"
(ICLR), section 3: a decoder model p(x) = integral of p(z) p(x | z) dz (a GAN generator with a Gaussian
observation model N(x; G(z), sigma^2 I), or a VAE decoder with its Bernoulli likelihood) is evaluated by
AIS (Neal 2001, "Annealed importance sampling") along the geometric path

    f_t(z) = p(z) p(x | z)^beta_t,   0 = beta_0 < beta_1 < ... < beta_T = 1,

from the prior to the unnormalised posterior, with one Hamiltonian Monte Carlo transition (L leapfrog steps,
a step size adapted per chain towards an acceptance rate of 0.65, as in the paper) leaving each f_t
invariant. A chain's log weight is sum_t (beta_t - beta_{t-1}) log p(x | z_{t-1}); the mean of the weights
over K chains is an unbiased estimate of p(x), so its log is a stochastic lower bound on log p(x).

Run in reverse from an exact posterior sample (on simulated data, where the z that generated x is known),
the same machinery estimates 1 / p(x), and minus its log is a stochastic upper bound: bidirectional Monte
Carlo (Grosse, Ghahramani & Adams 2015, "Sandwiching the marginal likelihood using bidirectional Monte
Carlo"), which Wu et al. use to check that AIS has converged (their section 4.1).

A uniform prior on [-a, a]^D (the Lucic et al. presets) is handled by reflecting HMC trajectories at the
box's faces (Neal 2011, "MCMC using Hamiltonian dynamics", section 5.1), which keeps the dynamics reversible
and volume-preserving.

Hand-written because no maintained PyTorch library runs AIS over an arbitrary decoder (Pyro and
TensorFlow Probability's AIS are tied to their own model languages); the exact answer of a linear-Gaussian
decoder (probabilistic PCA) checks it in the tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import GanforgeError
from ..registry import Registry

#: log p(x | z) of each row: (z (M, D), x (M, ...)) -> (M,); must be differentiable in z
LogLikelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Prior:
    """p(z): N(0, I) (``kind`` "normal") or uniform on [-scale, scale]^dim (``kind`` "uniform")."""

    kind: str
    dim: int
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("normal", "uniform"):
            raise GanforgeError(f"AIS prior {self.kind!r}: expected 'normal' or 'uniform'")

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(M, D) -> (M,); inside the box for the uniform prior."""
        if self.kind == "normal":
            return -0.5 * z.pow(2).sum(1) - 0.5 * self.dim * math.log(2 * math.pi)
        return torch.full(z.shape[:1], -self.dim * math.log(2 * self.scale), dtype=z.dtype, device=z.device)

    def sample(self, n: int, gen: torch.Generator, device=None) -> torch.Tensor:
        if self.kind == "normal":
            return torch.randn(n, self.dim, generator=gen).to(device)
        return ((torch.rand(n, self.dim, generator=gen) * 2 - 1) * self.scale).to(device)

    def reflect(self, z: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fold a position that left [-scale, scale] back in, flipping the momentum once per reflection
        (Neal 2011, section 5.1); the normal prior has no boundary."""
        if self.kind == "normal":
            return z, p
        width = 2 * self.scale
        u = (z + self.scale) / width
        k = torch.floor(u)
        frac = u - k
        odd = torch.remainder(k, 2) == 1
        return torch.where(odd, 1 - frac, frac) * width - self.scale, torch.where(odd, -p, p)


SCHEDULES: Registry[Callable[[int], torch.Tensor]] = Registry("AIS schedule")


@SCHEDULES.register("sigmoid")
def sigmoid_schedule(steps: int, delta: float = 4.0) -> torch.Tensor:
    """beta_t = (s_t - s_0) / (s_T - s_0) with s_t = sigmoid(delta (2t/T - 1)), t = 0..T (Grosse et al.
    2015, section 6; Wu et al. 2017's schedule): dense near both ends, where the weights change fastest."""
    s = torch.sigmoid(delta * (2 * torch.arange(steps + 1, dtype=torch.float64) / steps - 1))
    return (s - s[0]) / (s[-1] - s[0])


@SCHEDULES.register("linear")
def linear_schedule(steps: int) -> torch.Tensor:
    """beta_t = t / T, t = 0..T."""
    return torch.linspace(0, 1, steps + 1, dtype=torch.float64)


ACCEPT_SLOWNESS = 0.9  # weight of the past in the running acceptance rate (eval_gen's avg_acceptance_slowness)


@dataclass(frozen=True)
class AISConfig:
    """T intermediate distributions (``steps``), K ``chains`` per example, HMC with ``leapfrog`` steps of an
    initial ``step_size`` adapted per chain: x1.02 while the chain's running acceptance rate (an exponential
    moving average, weight 0.1 on the newest transition, started at the target) is above ``target_accept``,
    else x0.98, kept in [1e-4, 0.5] - the rule of Wu et al.'s released code (eval_gen), there with one step
    size for the whole batch. Wu et al. 2017 used 16 chains, 10 leapfrog steps and up to 10,000
    distributions."""

    steps: int = 1000
    chains: int = 16
    leapfrog: int = 10
    step_size: float = 0.05
    target_accept: float = 0.65
    schedule: str = "sigmoid"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "chains", "leapfrog"):
            if int(getattr(self, name)) < 1:
                raise GanforgeError(f"AIS {name} must be a positive integer, got {getattr(self, name)}")
        if not self.step_size > 0:
            raise GanforgeError(f"AIS step_size must be positive, got {self.step_size}")
        SCHEDULES.get(self.schedule)


def _potential(z: torch.Tensor, x: torch.Tensor, beta: float, prior: Prior, log_lik: LogLikelihood):
    """U(z) = -log p(z) - beta log p(x | z), its gradient and log p(x | z), each per row."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        ll = log_lik(z, x)
        u = -(prior.log_prob(z) + beta * ll)
        (grad,) = torch.autograd.grad(u.sum(), z)
    return u.detach(), grad, ll.detach()


def hmc_step(z, x, beta, prior, log_lik, eps, leapfrog, gen):
    """One HMC transition leaving f_beta invariant: returns the new z, the accept mask (M,) and log p(x | z)
    at the *old* z (the AIS weight increment needs it, and it comes with the first gradient for free)."""
    p0 = torch.randn(z.shape, generator=gen).to(z)
    u0, grad, ll0 = _potential(z, x, beta, prior, log_lik)
    e = eps[:, None]
    zn, pn = z, p0 - 0.5 * e * grad
    for i in range(leapfrog):
        zn, pn = prior.reflect(zn + e * pn, pn)
        u1, grad, _ = _potential(zn, x, beta, prior, log_lik)
        pn = pn - (e if i < leapfrog - 1 else 0.5 * e) * grad
    h0 = u0 + 0.5 * p0.pow(2).sum(1)
    h1 = u1 + 0.5 * pn.pow(2).sum(1)
    log_u = torch.log(torch.rand(h0.shape, generator=gen).to(h0))
    accept = torch.isfinite(h1) & (log_u < h0 - h1)
    return torch.where(accept[:, None], zn, z), accept, ll0


def _anneal(z, x, betas, prior, log_lik, cfg: AISConfig, gen) -> tuple[torch.Tensor, float]:
    """Run the chains ``z`` through ``betas`` (increasing: forward; decreasing: reverse); per-row log weights
    sum_t (beta_t - beta_{t-1}) log p(x | z_{t-1}) and the mean acceptance rate."""
    logw = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
    eps = torch.full((z.shape[0],), cfg.step_size, dtype=z.dtype, device=z.device)
    rate = torch.full_like(eps, cfg.target_accept)  # running acceptance rate per chain
    accepted = 0.0
    for t in range(1, len(betas)):
        z, accept, ll = hmc_step(z, x, float(betas[t]), prior, log_lik, eps, cfg.leapfrog, gen)
        logw += float(betas[t] - betas[t - 1]) * ll.double()
        eps = torch.where(rate > cfg.target_accept, eps * 1.02, eps * 0.98).clamp(1e-4, 0.5)
        rate = ACCEPT_SLOWNESS * rate + (1 - ACCEPT_SLOWNESS) * accept.to(rate)
        accepted += accept.float().mean().item()
    return logw, accepted / (len(betas) - 1)


@dataclass
class AISResult:
    """Per-example estimates (N,): ``log_px`` = log mean_k w_k, its delta-method standard error ``se`` over
    the K chains (std(w) / (sqrt(K) mean(w))), the raw ``log_weights`` (N, K) and the mean HMC acceptance."""

    log_px: torch.Tensor
    se: torch.Tensor
    log_weights: torch.Tensor
    accept_rate: float


def _summarise(logw: torch.Tensor, accept: float) -> AISResult:
    k = logw.shape[1]
    log_mean = torch.logsumexp(logw, 1) - math.log(k)
    w = torch.exp(logw - logw.max(1, keepdim=True).values)  # weights scaled by a per-row constant
    se = w.std(1, unbiased=k > 1) / (math.sqrt(k) * w.mean(1)) if k > 1 else torch.full_like(log_mean, math.nan)
    return AISResult(log_mean, se, logw, accept)


def ais_log_likelihood(x: torch.Tensor, prior: Prior, log_lik: LogLikelihood, cfg: AISConfig = AISConfig(),
                       batch: int = 100) -> AISResult:
    """Forward AIS estimate of log p(x) for every example of ``x`` (N, ...), ``batch`` examples (times K
    chains) at a time; a stochastic lower bound on the true log-likelihood."""
    return _run(x, prior, log_lik, cfg, batch, start=None)


def ais_upper_bound(x: torch.Tensor, z_exact: torch.Tensor, prior: Prior, log_lik: LogLikelihood,
                    cfg: AISConfig = AISConfig(), batch: int = 100) -> AISResult:
    """Reverse AIS from exact posterior samples ``z_exact`` (N, D), the latents that generated ``x``: its
    ``log_px`` is -log mean_k w_k, a stochastic upper bound on log p(x) (BDMC, Grosse et al. 2015)."""
    if z_exact.shape != (x.shape[0], prior.dim):
        raise GanforgeError(f"BDMC: z_exact has shape {tuple(z_exact.shape)}, expected ({x.shape[0]}, {prior.dim})")
    return _run(x, prior, log_lik, cfg, batch, start=z_exact)


def _run(x, prior, log_lik, cfg, batch, start) -> AISResult:
    if x.shape[0] < 1:
        raise GanforgeError("AIS needs at least one example")
    betas = SCHEDULES.get(cfg.schedule)(cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    weights, rates = [], []
    for lo in range(0, x.shape[0], batch):
        xb = x[lo:lo + batch].repeat_interleave(cfg.chains, 0)
        if start is None:
            logw, rate = _anneal(prior.sample(xb.shape[0], gen, x.device).to(x.dtype), xb, betas, prior,
                                 log_lik, cfg, gen)
        else:
            z0 = start[lo:lo + batch].repeat_interleave(cfg.chains, 0).to(x)
            logw, rate = _anneal(z0, xb, betas.flip(0), prior, log_lik, cfg, gen)  # weights estimate 1/p(x)
        weights.append(logw.view(-1, cfg.chains))
        rates.append(rate * xb.shape[0])
    logw = torch.cat(weights)
    accept = sum(rates) / (x.shape[0] * cfg.chains)
    if start is None:
        return _summarise(logw, accept)
    reverse = _summarise(logw, accept)  # log mean_k of the reverse weights: an estimate of -log p(x)
    return AISResult(-reverse.log_px, reverse.se, logw, accept)


def gaussian_log_likelihood(mean: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """log N(x; mean, sigma^2 I) per example (N,): Wu et al. 2017's observation model for GANs (section 3)."""
    d = x[0].numel()
    sq = (x - mean).flatten(1).pow(2).sum(1)
    return -0.5 * sq / sigma ** 2 - d * (math.log(sigma) + 0.5 * math.log(2 * math.pi))
