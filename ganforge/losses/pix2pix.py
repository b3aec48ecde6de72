"""pix2pix's objective (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
section 3.1) as small pure functions; the adversarial part is a registered loss (``ns`` in the paper).

    L_cGAN(G, D) = E_{x,y}[log D(x, y)] + E_{x,z}[log(1 - D(x, G(x, z)))]          (eq. 1)
    L_L1(G)      = E_{x,y,z}[||y - G(x, z)||_1]                                     (eq. 3)
    G*           = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G),  lambda = 100       (eq. 4)

With a PatchGAN, D(x, y) is a map of patch logits and each expectation is also a mean over patches. As in the
paper, G maximises log D(x, G(x, z)) (the non-saturating form) and D's objective is divided by 2 "which slows
down the rate at which D learns relative to G" (section 3.3): :func:`halved_d_objective`. With Adam, the
paper's optimiser, the factor changes almost nothing (Adam divides each step by the gradient's running RMS,
so it is invariant to the loss scale up to its eps); it is kept because the paper and its code have it, and
it does halve D's steps under SGD. The L1 norm is the
mean absolute difference per pixel (the authors' code uses ``torch.nn.L1Loss``), on images in [-1, 1].
"""
from __future__ import annotations

import torch


def l1_reconstruction(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 3: mean over the batch and every pixel and channel of |y - G(x)|."""
    return (target.float() - output.float()).abs().mean()


def halved_d_objective(d_loss: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """What D descends: its adversarial loss times ``scale`` (the paper's 1/2, section 3.3)."""
    return scale * d_loss


def generator_objective(adversarial: torch.Tensor, l1: torch.Tensor, l1_weight: float = 100.0) -> torch.Tensor:
    """Eq. 4, G's side: its adversarial loss plus lambda times eq. 3."""
    return adversarial + l1_weight * l1
