"""The ``ddpm`` family: Ho et al. 2020, "Denoising Diffusion Probabilistic Models".

- Forward process: q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) with abar_t = prod_{s<=t} (1 - beta_s)
  (eq. 4), T = ``options.timesteps`` (1000) steps; :func:`q_sample`.
- Noise schedules (``options.schedule``): ``linear``, beta from 1e-4 to 0.02 (section 4; scaled by 1000 / T
  for other T, as Nichol and Dhariwal's code does), and ``cosine``, abar_t = f(t) / f(0) with
  f(t) = cos(((t / T + s) / (1 + s)) pi / 2)^2, s = 0.008, betas clipped at 0.999 (Nichol and Dhariwal 2021,
  "Improved Denoising Diffusion Probabilistic Models", eq. 17).
- Loss: the simple loss E_{t, x_0, eps} ||eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t)||^2 (eq. 14),
  t uniform on the T steps, averaged over pixels and images; :func:`simple_loss`.
- Samplers, each on S = ``steps`` evenly spaced steps tau_1 > ... > tau_S of 0..T-1 (the last is 0), one
  network evaluation each; the network predicts eps, from which x_0 is predicted as
  (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) and, with ``options.clip_x0``, clipped to [-1, 1] (eps then
  recomputed from the clipped x_0, as Ho et al.'s code does for its posterior mean):
  - ``ancestral``: x_{t'} ~ q(x_{t'} | x_t, x_0) with the posterior mean and variance of eq. 6-7 for
    beta = 1 - abar_t / abar_{t'} (for S = T exactly Ho et al.'s Algorithm 2 with sigma_t^2 = beta-tilde_t;
    for fewer steps the respaced chain of Nichol and Dhariwal 2021, section 4);
  - ``ddim``: Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12,
    x_{t'} = sqrt(abar_{t'}) x_0 + sqrt(1 - abar_{t'} - sigma^2) eps + sigma z, with
    sigma = eta sqrt((1 - abar_{t'}) / (1 - abar_t)) sqrt(1 - abar_t / abar_{t'}) (eq. 16): eta = 0 is
    deterministic given the start noise, eta = 1 is the ancestral sampler.
  Fresh noise z comes from each image's own generator (:class:`~ganforge.models.iterative.ImageNoise`).
- The network sees t as the float step index 0..T-1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..errors import GanforgeError
from ..registry import Registry
from .base import FAMILIES
from .iterative import ImageNoise, IterativeFamily, NetFn, Sampler

SCHEDULES: Registry[Callable[[int], torch.Tensor]] = Registry("noise schedule")
SAMPLERS: Registry[Sampler] = Registry("ddpm sampler")

#: eps_theta(x_t, t) for an integer step t
EpsFn = Callable[[torch.Tensor, int], torch.Tensor]


@SCHEDULES.register("linear")
def linear_betas(timesteps: int) -> torch.Tensor:
    """Ho et al. 2020, section 4: beta linear from 1e-4 to 0.02 over T = 1000 (both scaled by 1000 / T); (T,) float64."""
    scale = 1000.0 / timesteps
    return torch.linspace(1e-4 * scale, 0.02 * scale, timesteps, dtype=torch.float64)


@SCHEDULES.register("cosine")
def cosine_betas(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol and Dhariwal 2021, eq. 17: abar_t = f(t) / f(0), beta_t = 1 - abar_t / abar_{t-1} <= 0.999; (T,) float64."""
    t = torch.arange(timesteps + 1, dtype=torch.float64)
    f = torch.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    return (1.0 - f[1:] / f[:-1]).clamp(max=0.999)


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """abar_t = prod_{s<=t} (1 - beta_s), (T,) float64."""
    return torch.cumprod(1.0 - betas, dim=0)


def _per_image(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.dim() - 1)))  # (N, 1, 1, 1)


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et al. 2020, eq. 4 reparameterised), t (N,) int64."""
    ab = _per_image(alpha_bar.to(t.device)[t], x0)
    return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise


def simple_loss(eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor, t: torch.Tensor,
                noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """L_simple (Ho et al. 2020, eq. 14): mean over images and pixels of (eps - eps_theta(x_t, t))^2, in fp32."""
    pred = eps_fn(q_sample(x0, t, noise, alpha_bar), t)
    return (noise.float() - pred.float()).pow(2).mean()


def spaced_timesteps(timesteps: int, steps: int) -> list[int]:
    """``steps`` distinct steps from T-1 down to 0, evenly spaced (rounded)."""
    if not 1 <= steps <= timesteps:
        raise GanforgeError(f"steps must be in 1..{timesteps} (the diffusion's T), got {steps}")
    if steps == 1:
        return [timesteps - 1]
    return torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).round().long().tolist()


def predict_x0(x: torch.Tensor, eps: torch.Tensor, ab: float, clip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_0, eps) predicted from x_t and eps_theta: x_0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar); with ``clip``
    x_0 is clipped to [-1, 1] and eps recomputed from it, so that x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps."""
    x0 = (x - math.sqrt(1.0 - ab) * eps) / math.sqrt(ab)
    if not clip:
        return x0, eps
    x0 = x0.clamp(-1.0, 1.0)
    return x0, (x - math.sqrt(ab) * x0) / math.sqrt(1.0 - ab)


def ddim_update(x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, ab: float, ab_prev: float, eta: float,
                z: Optional[torch.Tensor]) -> torch.Tensor:
    """Song et al. 2021, eq. 12 with sigma of eq. 16 (scaled by eta)."""
    sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab)) * math.sqrt(1.0 - ab / ab_prev)
    out = math.sqrt(ab_prev) * x0 + math.sqrt(max(1.0 - ab_prev - sigma ** 2, 0.0)) * eps
    return out + sigma * z if z is not None and sigma > 0 else out


def ancestral_update(x: torch.Tensor, x0: torch.Tensor, ab: float, ab_prev: float, z: torch.Tensor) -> torch.Tensor:
    """A draw from q(x_{t'} | x_t, x_0) (Ho et al. 2020, eq. 6-7) with beta = 1 - abar_t / abar_{t'}:
    mean sqrt(abar_{t'}) beta / (1 - abar_t) x_0 + sqrt(1 - beta) (1 - abar_{t'}) / (1 - abar_t) x_t,
    variance beta-tilde = (1 - abar_{t'}) / (1 - abar_t) beta."""
    beta = 1.0 - ab / ab_prev
    mean = (math.sqrt(ab_prev) * beta / (1.0 - ab)) * x0 + (math.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)) * x
    return mean + math.sqrt((1.0 - ab_prev) / (1.0 - ab) * beta) * z


def _chain(update, eps_fn: EpsFn, x: torch.Tensor, alpha_bar: torch.Tensor, timesteps: list[int],
           clip: bool) -> torch.Tensor:
    """Run ``update(x, x0, eps, abar_t, abar_t')`` over the steps; abar after the last step is 1 (the data)."""
    for i, t in enumerate(timesteps):
        ab = float(alpha_bar[t])
        ab_prev = float(alpha_bar[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0
        x0, eps = predict_x0(x, eps_fn(x, t), ab, clip)
        x = update(x, x0, eps, ab, ab_prev)
    return x


def ddim_sample(eps_fn: EpsFn, x: torch.Tensor, alpha_bar: torch.Tensor, timesteps: list[int],
                noise: Optional[Callable[[], torch.Tensor]] = None, eta: float = 0.0, clip: bool = True) -> torch.Tensor:
    """DDIM from x_{tau_1} = x over ``timesteps`` (descending); ``noise()`` gives z when eta > 0."""
    if eta > 0 and noise is None:
        raise GanforgeError("ddim with eta > 0 draws fresh noise and needs a noise source")
    return _chain(lambda x, x0, eps, ab, abp: ddim_update(x, x0, eps, ab, abp, eta, noise() if eta > 0 else None),
                  eps_fn, x, alpha_bar, timesteps, clip)


def ancestral_sample(eps_fn: EpsFn, x: torch.Tensor, alpha_bar: torch.Tensor, timesteps: list[int],
                     noise: Callable[[], torch.Tensor], eta: float = 0.0, clip: bool = True) -> torch.Tensor:
    """Ancestral sampling over ``timesteps`` (descending), z = ``noise()`` at every step (``eta`` unused)."""
    return _chain(lambda x, x0, eps, ab, abp: ancestral_update(x, x0, ab, abp, noise()),
                  eps_fn, x, alpha_bar, timesteps, clip)


SAMPLERS.register("ddim")(Sampler(ddim_sample, takes_eta=True))
SAMPLERS.register("ancestral")(Sampler(ancestral_sample))


@FAMILIES.register("ddpm")
class DDPM(IterativeFamily):
    """eps-prediction diffusion on ``model.generator`` (a denoiser), sampled by ``ancestral`` or ``ddim``."""

    samplers = SAMPLERS
    seed_columns = 1

    @dataclass
    class Args(IterativeFamily.Args):
        schedule: str = "linear"   # linear (Ho et al.) | cosine (Nichol and Dhariwal)
        timesteps: int = 1000      # T
        sampler: str = "ddim"      # ddim | ancestral
        sample_steps: int = 50
        eta: float = 0.0           # DDIM's eta (0: deterministic)
        clip_x0: bool = True       # clip the predicted x_0 to [-1, 1] while sampling

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        #: abar_t (T,) float64 on the CPU: a function of the config, so not saved in checkpoints
        self.alpha_bar = alpha_bars(SCHEDULES.get(self.args.schedule)(self.args.timesteps))

    def _check_args(self, args) -> None:
        super()._check_args(args)
        if args.timesteps < 2:
            raise GanforgeError(f"model.options.timesteps must be at least 2, got {args.timesteps}")

    def max_steps(self) -> int:
        return self.args.timesteps

    def loss(self, net, x, labels) -> torch.Tensor:
        """L_simple with t uniform on 0..T-1 and eps ~ N(0, I)."""
        t = torch.randint(0, self.args.timesteps, (x.shape[0],), device=x.device)
        noise = torch.randn_like(x)
        return simple_loss(lambda xt, tt: net(xt, tt.float(), labels), x, t, noise, self.alpha_bar)

    def integrate(self, f: NetFn, x: torch.Tensor, noise: Optional[ImageNoise]) -> torch.Tensor:
        s = self.settings
        eps_fn = lambda xt, t: f(xt, torch.full((xt.shape[0],), float(t), device=xt.device))  # noqa: E731
        run = self.samplers.get(s.sampler).run
        return run(eps_fn, x, self.alpha_bar, spaced_timesteps(self.args.timesteps, s.steps), noise, s.eta,
                   self.args.clip_x0)
