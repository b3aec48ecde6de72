"""The ``flow`` family: flow matching on the straight path (Lipman et al. 2023, "Flow Matching for Generative
Modeling"; Liu et al. 2023, "Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified
Flow").

- Path: x_t = (1 - t) x_0 + t x_1 between noise x_0 ~ N(0, I) (t = 0) and data x_1 (t = 1), t uniform on
  [0, 1]; its velocity is x_1 - x_0 (Lipman et al. eq. 20-23 with sigma_min = 0; Liu et al. eq. 1).
- Loss: the conditional flow matching loss, mean over images and pixels of (v_theta(x_t, t) - (x_1 - x_0))^2;
  :func:`flow_matching_loss`. (One round of training: 1-rectified flow; no reflow.)
- Samplers integrate dx/dt = v_theta(x, t) from t = 0 to 1 in S = ``steps`` equal steps h = 1 / S:
  ``euler`` x <- x + h v(x, t) (S network evaluations) and ``heun`` (the explicit trapezoidal rule, Heun's
  second-order method) x <- x + h/2 (v(x, t) + v(x + h v(x, t), t + h)) (2 S evaluations).
- The network sees 1000 t, the time scale of the ddpm family's step index, so one denoiser serves both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..registry import Registry
from .base import FAMILIES
from .iterative import ImageNoise, IterativeFamily, NetFn, Sampler

SAMPLERS: Registry[Sampler] = Registry("flow sampler")

#: v(x, t) for a float time t in [0, 1]
VelocityFn = Callable[[torch.Tensor, float], torch.Tensor]

NET_TIME_SCALE = 1000.0


def straight_path(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x_0 + t x_1 for t (N,) per image."""
    t = t.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))  # (N, 1, 1, 1)
    return (1.0 - t) * x0 + t * x1


def flow_matching_loss(v_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x1: torch.Tensor,
                       t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Mean over images and pixels of (v_theta(x_t, t) - (x_1 - x_0))^2, in fp32 (Lipman et al. eq. 23, sigma_min = 0)."""
    pred = v_fn(straight_path(x0, x1, t), t)
    return (pred.float() - (x1 - x0).float()).pow(2).mean()


def euler(v: VelocityFn, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Euler's method for dx/dt = v(x, t) from t = 0 to 1 in ``steps`` steps."""
    h = 1.0 / steps
    for k in range(steps):
        x = x + h * v(x, k * h)
    return x


def heun(v: VelocityFn, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Heun's method (explicit trapezoidal rule) for dx/dt = v(x, t) from t = 0 to 1 in ``steps`` steps."""
    h = 1.0 / steps
    for k in range(steps):
        t = k * h
        d1 = v(x, t)
        d2 = v(x + h * d1, t + h)
        x = x + 0.5 * h * (d1 + d2)
    return x


SAMPLERS.register("euler")(Sampler(euler))
SAMPLERS.register("heun")(Sampler(heun, evaluations_per_step=2))


@FAMILIES.register("flow")
class Flow(IterativeFamily):
    """Velocity prediction on the straight noise-to-data path, sampled by ``euler`` or ``heun``."""

    samplers = SAMPLERS

    @dataclass
    class Args(IterativeFamily.Args):
        sampler: str = "euler"   # euler | heun
        sample_steps: int = 50

    def loss(self, net, x, labels) -> torch.Tensor:
        """The flow matching loss with t ~ U[0, 1] and x_0 ~ N(0, I) for data x = x_1."""
        t = torch.rand(x.shape[0], device=x.device)
        noise = torch.randn_like(x)
        return flow_matching_loss(lambda xt, tt: net(xt, NET_TIME_SCALE * tt, labels), x, t, noise)

    def integrate(self, f: NetFn, x: torch.Tensor, noise: Optional[ImageNoise]) -> torch.Tensor:
        s = self.settings
        v = lambda xt, t: f(xt, torch.full((xt.shape[0],), NET_TIME_SCALE * t, device=xt.device))  # noqa: E731
        return self.samplers.get(s.sampler).run(v, x, s.steps)
