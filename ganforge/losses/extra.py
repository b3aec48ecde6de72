"""Least-squares and hinge adversarial losses (pure functions on discriminator outputs).

- LSGAN, Mao et al. 2017, eq. 9 with the 0-1 coding (a=0, b=1, c=1) that Lucic et al. 2018 use:
  D minimises 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2], G minimises 1/2 E[(D(G(z)) - 1)^2]. With soft real
  targets t (label smoothing, noisy labels) t takes the place of b: 1/2 E[(D(x) - t)^2] + 1/2 E[D(G(z))^2].
- Hinge, Lim and Ye 2017 / Miyato et al. 2018 eq. 16: D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],
  G minimises -E[D(G(z))].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, FunctionLoss


def lsgan_d_loss_targets(real_out: torch.Tensor, fake_out: torch.Tensor,
                        real_targets: torch.Tensor | float) -> torch.Tensor:
    """1/2 E[(D(x) - t)^2] + 1/2 E[D(G(z))^2]: Mao et al. 2017, "Least Squares Generative Adversarial
    Networks", eq. 9 with a = 0 and the real coding b = t per image."""
    return 0.5 * ((real_out - real_targets) ** 2).mean() + 0.5 * (fake_out ** 2).mean()


def lsgan_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    return lsgan_d_loss_targets(real_out, fake_out, 1.0)


def lsgan_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake_out - 1.0) ** 2).mean()


def hinge_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()


def hinge_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    return -fake_out.mean()


@LOSSES.register("lsgan")
class LeastSquaresLoss(FunctionLoss):
    """LSGAN (Mao et al. 2017, eq. 9, 0-1 coding); D's outputs are least-squares scores, not logits."""

    outputs_are_logits = False
    d_fn = staticmethod(lsgan_d_loss)
    g_fn = staticmethod(lsgan_g_loss)
    targets_fn = staticmethod(lsgan_d_loss_targets)


@LOSSES.register("hinge")
class HingeLoss(FunctionLoss):
    """Hinge loss (Lim and Ye 2017; Miyato et al. 2018, eq. 16); D's outputs are margins, not logits, and
    soft real targets have no meaning for it."""

    outputs_are_logits = False
    d_fn = staticmethod(hinge_d_loss)
    g_fn = staticmethod(hinge_g_loss)
