"""CycleGAN's objective (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", sections 3 and 4) as small pure functions, for G: X -> Y with D_Y and F: Y -> X with D_X.

    L_GAN(G, D_Y, X, Y) = E_y[log D_Y(y)] + E_x[log(1 - D_Y(G(x)))]                            (eq. 1)
    L_cyc(G, F)        = E_x[||F(G(x)) - x||_1] + E_y[||G(F(y)) - y||_1]                         (eq. 2)
    L(G, F, D_X, D_Y)  = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X) + lambda L_cyc(G, F)          (eq. 3)

Section 4, "Training details": the negative log-likelihood of eq. 1 is replaced by a least-squares loss (Mao
et al. 2017): G minimises E_x[(D(G(x)) - 1)^2] and D minimises E_y[(D(y) - 1)^2] + E_x[D(G(x))^2]; "we divide
the objective by 2 while optimizing D" (section 7.1), so :func:`lsgan_d_objective` is
1/2 E[(D(y) - 1)^2] + 1/2 E[D(G(x))^2]. G's term keeps no 1/2: the weights lambda = 10 of the cycle loss and
0.5 lambda of the identity loss are relative to it. (ganforge's registered ``lsgan`` loss follows Lucic et
al.'s coding, with a 1/2 on G's side too, so it is not used here.) With a PatchGAN each expectation is also a
mean over patches.

Identity loss (section 5.2, "Photo generation from paintings", after Taigman et al. 2017):
L_identity(G, F) = E_y[||G(y) - y||_1] + E_x[||F(x) - x||_1], weighted 0.5 lambda in the authors' code.
The L1 norms are means of absolute differences per pixel (the authors' code uses ``torch.nn.L1Loss``), on
images in [-1, 1].
"""
from __future__ import annotations

import torch


def lsgan_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """G's least-squares adversarial loss: the mean of (D(G(x)) - 1)^2 over images and patches."""
    return ((fake_out.float() - 1.0) ** 2).mean()


def lsgan_d_objective(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """What D descends: 1/2 mean (D(y) - 1)^2 + 1/2 mean D(G(x))^2 (section 4, halved as in section 7.1)."""
    return 0.5 * ((real_out.float() - 1.0) ** 2).mean() + 0.5 * (fake_out.float() ** 2).mean()


def l1_distance(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch, channels and pixels of |output - target| (one direction of eq. 2, or of the
    identity loss)."""
    return (output.float() - target.float()).abs().mean()


def generator_objective(adversarial: torch.Tensor, cycle: torch.Tensor, identity: torch.Tensor,
                        lambda_cycle: float = 10.0, identity_weight: float = 0.5) -> torch.Tensor:
    """Eq. 3 on the generators' side plus the identity term: the adversarial losses of G and F (summed in
    ``adversarial``), lambda times the cycle losses (``cycle``: the sum of the directions in use) and
    identity_weight * lambda times the identity losses (``identity``: the sum of both)."""
    return adversarial + lambda_cycle * cycle + identity_weight * lambda_cycle * identity
