"""Wasserstein critics and gradient penalties.

- WGAN, Arjovsky et al. 2017, Algorithm 1: the critic maximises E[D(x)] - E[D(G(z))] (minimises the
  negation), G minimises -E[D(G(z))]; after every critic update its weights are clipped to [-c, c].
- WGAN-GP, Gulrajani et al. 2017, eq. 3: the same losses plus lambda E[(||grad_x D(x_hat)||_2 - 1)^2] at
  x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per example.
  Option ``drift`` epsilon > 0 adds epsilon E[D(x)^2] over real images to the critic's loss, keeping its values
  near zero (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
  Variation", appendix A.1: epsilon_drift = 0.001).
- DRAGAN, Kodali et al. 2017: the non-saturating GAN loss plus lambda E[(||grad D(x_p)||_2 - 1)^2] at
  points x_p = x + alpha (x_noise - x), alpha ~ U[0, 1] per example, between real data and perturbed real
  data x_noise = x + 0.5 std(x) u, u ~ U[0, 1] per pixel, std the population standard deviation of the
  whole batch (google/compare_gan's DRAGAN.py, numpy's std, used by Lucic et al. 2018).
  Option ``form``: ``logit`` (default) penalises the gradient of D's logit; ``compare_gan`` penalises,
  as google/compare_gan's DRAGAN.py does, the gradient of sigmoid(D) with the slope
  sqrt(1e-4 + sum g^2) in place of ||g||_2.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import GanforgeError
from .base import LOSSES, FunctionLoss
from .gan import minimax_d_loss, nonsaturating_g_loss, soft_label_d_loss


def wgan_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    return fake_out.mean() - real_out.mean()


def wgan_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    return -fake_out.mean()


def drift_penalty(real_out: torch.Tensor, epsilon: float) -> torch.Tensor:
    """epsilon E[D(x)^2] over the critic's values on real images (Karras et al. 2018, appendix A.1)."""
    return epsilon * real_out.float().pow(2).mean()


def gradient_penalty(d_net: torch.nn.Module, points: torch.Tensor, weight: float,
                     squash=None, slope_eps: float = 0.0) -> torch.Tensor:
    """weight * mean((||grad_x D(x)||_2 - 1)^2) over ``points`` (Gulrajani et al. 2017, eq. 3).

    ``squash`` (e.g. torch.sigmoid) is applied to D's output before differentiating, and ``slope_eps`` > 0
    takes the slope as sqrt(slope_eps + sum g^2): google/compare_gan's DRAGAN.py uses both (sigmoid, 1e-4)."""
    points = points.detach().float().requires_grad_(True)
    out = d_net(points).float()
    out = squash(out) if squash is not None else out
    (grad,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    flat = grad.flatten(1)
    norms = (flat.pow(2).sum(1) + slope_eps).sqrt() if slope_eps else flat.norm(2, dim=1)
    return weight * ((norms - 1.0) ** 2).mean()


def per_example_uniform(real: torch.Tensor) -> torch.Tensor:
    """U[0, 1] numbers of shape (N, 1, ..., 1), one per example, broadcastable against ``real``."""
    return torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)


def dragan_points(real: torch.Tensor) -> torch.Tensor:
    """x + alpha (x_noise - x), x_noise = x + 0.5 std(x) u: google/compare_gan's DRAGAN.py
    (get_perturbed_batch, numpy's population std over the whole batch; alpha per example, u per pixel)."""
    real = real.float()
    noisy = real + 0.5 * real.std(unbiased=False) * torch.rand_like(real)
    return real + per_example_uniform(real) * (noisy - real)


DRAGAN_FORMS = {"logit": {}, "compare_gan": {"squash": torch.sigmoid, "slope_eps": 1e-4}}


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
    """WGAN-GP (Gulrajani et al. 2017): WGAN losses plus the gradient penalty, no clipping. ``slope_eps``
    > 0 takes the slope as sqrt(slope_eps + sum g^2), as google/compare_gan's WGAN_GP.py does with 1e-4;
    ``drift`` > 0 adds ProGAN's drift term drift * E[D(x)^2] on real images (Karras et al. 2018, A.1)."""

    @dataclass
    class Args:
        gp_weight: float = 10.0
        slope_eps: float = 0.0
        drift: float = 0.0

        def __post_init__(self) -> None:
            if not isinstance(self.slope_eps, (int, float)) or isinstance(self.slope_eps, bool) \
                    or not 0.0 <= self.slope_eps < 1.0:
                raise GanforgeError(f"model.loss_options.slope_eps of loss 'wgan-gp' must be a number in [0, 1), "
                                    f"got {self.slope_eps!r}")
            if not isinstance(self.drift, (int, float)) or isinstance(self.drift, bool) or not 0.0 <= self.drift < 1.0:
                raise GanforgeError(f"model.loss_options.drift of loss 'wgan-gp' must be a number in [0, 1) "
                                    f"(Karras et al. 2018 use 0.001), got {self.drift!r}")

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        loss = wgan_d_loss(real_out, fake_out)
        return loss + drift_penalty(real_out, self.args.drift) if self.args.drift else loss

    def after_d_step(self, d_net: torch.nn.Module) -> None:
        pass

    def penalty(self, d_net, real, fake):
        eps = per_example_uniform(real)
        return gradient_penalty(d_net, eps * real + (1.0 - eps) * fake.detach().float(), self.args.gp_weight,
                                slope_eps=self.args.slope_eps)


@LOSSES.register("dragan")
class DraganLoss(FunctionLoss):
    """DRAGAN (Kodali et al. 2017): NS-GAN losses plus a gradient penalty around perturbed real data; with
    ``form=compare_gan`` the penalty of google/compare_gan's DRAGAN.py (on sigmoid(D), sqrt(1e-4 + sum g^2))."""

    d_fn = staticmethod(minimax_d_loss)
    g_fn = staticmethod(nonsaturating_g_loss)
    targets_fn = staticmethod(soft_label_d_loss)  # its D loss is the minimax one, on logits

    @dataclass
    class Args:
        gp_weight: float = 10.0
        form: str = "logit"

        def __post_init__(self) -> None:
            if self.form not in DRAGAN_FORMS:
                raise GanforgeError(f"model.loss_options.form of loss 'dragan' must be one of "
                                    f"{', '.join(DRAGAN_FORMS)}, got {self.form!r}")

    def penalty(self, d_net, real, fake):
        return gradient_penalty(d_net, dragan_points(real), self.args.gp_weight, **DRAGAN_FORMS[self.args.form])
