"""ModNet's losses (Basart 2017, "Analysis of Generative Adversarial Models", University of Chicago MSc thesis,
section 2.2, eq. 2.2-2.7) as small pure functions, on logits.

    L_GAN   = L_G + L_D                                                          (2.2)
    L_G     = E_x[-log sigma(D(G(y_t, x)))]                                      (2.3)
    L_D     = E_x[-log sigma(D(x)) - log(1 - sigma(D(G(y_t, x))))]               (2.4)
    L_label = E_x[-y log softmax(C(x)) - y_t log softmax(C(G(y_t, x)))]         (2.5)
    L_1     = E_x[||x - G(y_t, x)||_1]                                           (2.6)
    L       = L_GAN + L_label + lambda L_1                                       (2.7)

(2.3) and (2.4) are ganforge's non-saturating loss ``ns`` (``ganforge.losses.gan``). Section 2.2 also names
an alternative D form, -log sigma(D(x)) + log sigma(D(G(y_t, x))), which the thesis found "much less
stable"; it is :func:`alternative_d_loss` here (registered in :data:`D_FORMS`).

The "Training Algorithm" box of the thesis differs from these equations in three places: it writes the D
update as "ascending" a loss that is meant to be minimised, it scores real images with y_t instead of
their own label y, and its G objective has -log(1 - sigma(D(G))) and a *negative* L1 term. ganforge follows
the equations (descend L; real images with their true y; the non-saturating L_G; +lambda L_1).

The thesis tunes lambda in [1e-5, 1e-3] with the summed L_1 of (2.6), and "to remove the hand tuning of
lambda we also used the average l_1 penalty". :data:`L1_SCALINGS` holds both readings: ``fixed`` is (2.6)
as written (sum over pixels, mean over the batch); ``average`` is the mean absolute change per pixel, i.e.
(2.6) divided by the number of pixels C*H*W, which puts the term on the scale of the other losses without
a dataset-dependent lambda (our reading of the phrase; the thesis gives no formula).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..registry import Registry
from .gan import minimax_d_loss

DLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
D_FORMS: Registry[DLoss] = Registry("ModNet discriminator loss form")
L1_SCALINGS: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("L1 scaling")

D_FORMS.register("standard")(minimax_d_loss)  # eq. 2.4


@D_FORMS.register("alternative")
def alternative_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Section 2.2's alternative: mean[-log sigma(D(x))] + mean[log sigma(D(G(y_t, x)))]
    = mean softplus(-real) - mean softplus(-fake). Unbounded below as the fake logit falls."""
    return F.softplus(-real_logits).mean() - F.softplus(-fake_logits).mean()


def label_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One term of eq. 2.5: mean cross-entropy -y log softmax(logits) of (N, K) logits against int labels (N,)."""
    return F.cross_entropy(class_logits.float(), labels)


@L1_SCALINGS.register("fixed")
def l1_sum(x: torch.Tensor, modified: torch.Tensor) -> torch.Tensor:
    """Eq. 2.6: mean over the batch of ||x - G(y_t, x)||_1, summed over every pixel and channel."""
    return (x.float() - modified.float()).abs().flatten(1).sum(dim=1).mean()


@L1_SCALINGS.register("average")
def l1_average(x: torch.Tensor, modified: torch.Tensor) -> torch.Tensor:
    """The "average l_1 penalty": mean |x - G(y_t, x)| per pixel (eq. 2.6 divided by C*H*W)."""
    return (x.float() - modified.float()).abs().mean()
