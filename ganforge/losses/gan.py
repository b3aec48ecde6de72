"""The original GAN losses (Goodfellow et al. 2014): minimax and non-saturating, on logits.

With D(x) = sigmoid(l(x)) for the discriminator logit l, the identities
``-log sigmoid(l) = softplus(-l)`` and ``-log(1 - sigmoid(l)) = softplus(l)`` turn the paper's
log-probabilities into softplus terms that stay finite for any logit (the naive form gives log 0 = -inf
once the sigmoid rounds to 0 or 1). This is the "combined negative log-likelihood and sigmoid" the seed
report 001 (section 2) uses; compare_gan's ``GAN``/``GAN_MINMAX`` compute the same with
``sigmoid_cross_entropy_with_logits``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, FunctionLoss


def minimax_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss: -mean log D(x) - mean log(1 - D(G(z))).

    The negated value function V(D, G) of Goodfellow et al. 2014, eq. 1, i.e. Villani and Eskildsen 2019 eq. 2;
    computed as mean softplus(-real) + mean softplus(fake).
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def soft_label_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Discriminator loss with soft real targets t: binary cross-entropy BCE(D(x), t) + BCE(D(G(z)), 0).

    Equals :func:`minimax_d_loss` when every t is 1; t = 1 - s is one-sided label smoothing (Salimans et al.
    2016, "Improved Techniques for Training GANs", section 3.4). Computed on logits as
    t softplus(-real) + (1 - t) softplus(real) + softplus(fake). A target above 1 makes the real term
    unbounded below (it falls without limit as the real logit grows).
    """
    real = F.softplus(-real_logits) * targets + F.softplus(real_logits) * (1.0 - targets)
    return real.mean() + F.softplus(fake_logits).mean()


def minimax_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Minimax generator loss: mean log(1 - D(G(z))), the G side of Goodfellow et al. 2014 eq. 1.

    Villani and Eskildsen 2019 eq. 3; computed as -mean softplus(fake). Its gradient vanishes where D confidently
    rejects the samples (D(G(z)) -> 0), which is why the paper suggests the non-saturating form.
    """
    return -F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -mean log D(G(z)).

    Goodfellow et al. 2014, section 3 after eq. 1: "train G to maximize log D(G(z))" (same fixed point
    as eq. 1, much stronger gradients early in training); the alternative to Villani and Eskildsen 2019 eq. 3.
    Computed as mean softplus(-fake).
    """
    return F.softplus(-fake_logits).mean()


@LOSSES.register("mm")
class MinimaxLoss(FunctionLoss):
    """Minimax GAN (MM-GAN): D minimises eq. 2, G minimises eq. 3 of Villani and Eskildsen 2019 (Goodfellow eq. 1)."""

    d_fn = staticmethod(minimax_d_loss)
    g_fn = staticmethod(minimax_g_loss)
    targets_fn = staticmethod(soft_label_d_loss)


@LOSSES.register("ns")
class NonSaturatingLoss(MinimaxLoss):
    """Non-saturating GAN (NS-GAN): the minimax D loss, G minimises -log D(G(z)) (Goodfellow et al. 2014)."""

    g_fn = staticmethod(nonsaturating_g_loss)
