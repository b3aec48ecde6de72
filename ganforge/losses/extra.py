"""Least-squares and hinge adversarial losses (pure functions on discriminator outputs).

- LSGAN, Mao et al. 2017, eq. 9 with the 0-1 coding (a=0, b=1, c=1) that Lucic et al. 2018 use:
  D minimises 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2], G minimises 1/2 E[(D(G(z)) - 1)^2]. With soft real
  targets t (label smoothing, noisy labels) t takes the place of b: 1/2 E[(D(x) - t)^2] + 1/2 E[D(G(z))^2].
  Option ``scores``: ``raw`` (default) squares D's raw outputs as Mao et al. do; ``sigmoid`` squares sigmoid(D)
  instead, as google/compare_gan's LSGAN.py (Lucic et al. 2018, "Are GANs Created Equal?"), whose
  discriminator ends in a sigmoid.
- Hinge, Lim and Ye 2017 / Miyato et al. 2018 eq. 16: D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],
  G minimises -E[D(G(z))].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import GanforgeError
from .base import LOSSES, FunctionLoss

LSGAN_SCORES = {"raw": lambda t: t, "sigmoid": torch.sigmoid}


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
    """LSGAN (Mao et al. 2017, eq. 9, 0-1 coding) on D's raw outputs (``scores=raw``, least-squares scores, not
    logits) or on sigmoid(D) (``scores=sigmoid``, google/compare_gan's LSGAN.py; D's outputs are then logits)."""

    outputs_are_logits = False
    targets_fn = staticmethod(lsgan_d_loss_targets)  # soft real targets have a meaning (see d_loss_targets)

    @dataclass
    class Args:
        scores: str = "raw"

        def __post_init__(self) -> None:
            if self.scores not in LSGAN_SCORES:
                raise GanforgeError(f"model.loss_options.scores of loss 'lsgan' must be one of "
                                    f"{', '.join(LSGAN_SCORES)}, got {self.scores!r}")

    def __init__(self, args: "LeastSquaresLoss.Args | None" = None) -> None:
        super().__init__(args)
        self.score = LSGAN_SCORES[self.args.scores]
        self.outputs_are_logits = self.args.scores == "sigmoid"

    def d_loss_targets(self, real_out, fake_out, real_targets):
        return lsgan_d_loss_targets(self.score(real_out), self.score(fake_out), real_targets)

    def d_loss(self, real_out, fake_out):
        return lsgan_d_loss(self.score(real_out), self.score(fake_out))

    def g_loss(self, fake_out):
        return lsgan_g_loss(self.score(fake_out))


@LOSSES.register("hinge")
class HingeLoss(FunctionLoss):
    """Hinge loss (Lim and Ye 2017; Miyato et al. 2018, eq. 16); D's outputs are margins, not logits, and
    soft real targets have no meaning for it."""

    outputs_are_logits = False
    d_fn = staticmethod(hinge_d_loss)
    g_fn = staticmethod(hinge_g_loss)
