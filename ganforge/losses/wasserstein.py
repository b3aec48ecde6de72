"""Wasserstein critics and gradient penalties.

- WGAN, Arjovsky et al. 2017, Algorithm 1: the critic maximises E[D(x)] - E[D(G(z))] (minimises the
  negation), G minimises -E[D(G(z))]; after every critic update its weights are clipped to [-c, c].
- WGAN-GP, Gulrajani et al. 2017, eq. 3: the same losses plus lambda E[(||grad_x D(x_hat)||_2 - 1)^2] at
  x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per example.
- DRAGAN, Kodali et al. 2017: the non-saturating GAN loss plus lambda E[(||grad D(x_p)||_2 - 1)^2] at
  points x_p = x + alpha (x_noise - x) between real data and perturbed real data
  x_noise = x + 0.5 std(x) u, u ~ U[0, 1] (as compare_gan, used by Lucic et al. 2018).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import LOSSES, FunctionLoss
from .gan import minimax_d_loss, nonsaturating_g_loss, soft_label_d_loss


def wgan_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    return fake_out.mean() - real_out.mean()


def wgan_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    return -fake_out.mean()


def gradient_penalty(d_net: torch.nn.Module, points: torch.Tensor, weight: float) -> torch.Tensor:
    """weight * mean((||grad_x D(x)||_2 - 1)^2) over ``points`` (Gulrajani et al. 2017, eq. 3)."""
    points = points.detach().float().requires_grad_(True)
    out = d_net(points).float()
    (grad,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return weight * ((norms - 1.0) ** 2).mean()


@LOSSES.register("wgan")
class WassersteinLoss(FunctionLoss):
    """WGAN with weight clipping (Arjovsky et al. 2017)."""

    outputs_are_logits = False
    d_fn = staticmethod(wgan_d_loss)
    g_fn = staticmethod(wgan_g_loss)

    @dataclass
    class Args:
        clip: float = 0.01

    @torch.no_grad()
    def after_d_step(self, d_net: torch.nn.Module) -> None:
        for p in d_net.parameters():
            p.clamp_(-self.args.clip, self.args.clip)


@LOSSES.register("wgan-gp")
class WassersteinGPLoss(WassersteinLoss):
    """WGAN-GP (Gulrajani et al. 2017): WGAN losses plus the gradient penalty, no clipping."""

    @dataclass
    class Args:
        gp_weight: float = 10.0

    def after_d_step(self, d_net: torch.nn.Module) -> None:
        pass

    def penalty(self, d_net, real, fake):
        eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
        return gradient_penalty(d_net, eps * real + (1.0 - eps) * fake.detach().float(), self.args.gp_weight)


@LOSSES.register("dragan")
class DraganLoss(FunctionLoss):
    """DRAGAN (Kodali et al. 2017): NS-GAN losses plus a gradient penalty around perturbed real data."""

    d_fn = staticmethod(minimax_d_loss)
    g_fn = staticmethod(nonsaturating_g_loss)
    targets_fn = staticmethod(soft_label_d_loss)  # its D loss is the minimax one, on logits

    @dataclass
    class Args:
        gp_weight: float = 10.0

    def penalty(self, d_net, real, fake):
        real = real.float()
        noisy = real + 0.5 * real.std() * torch.rand_like(real)
        alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
        return gradient_penalty(d_net, real + alpha * (noisy - real), self.args.gp_weight)
