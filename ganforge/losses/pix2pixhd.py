"""pix2pixHD's objective (Wang et al. 2018, "High-Resolution Image Synthesis and Semantic Manipulation with
Conditional GANs", section 3.2) as small pure functions over the outputs of multi-scale discriminators: for each
scale k a list [D_k^(1), ..., D_k^(T), D_k] of hidden activations and, last, the patch logits.

    min_G max_{D_1..D_K} sum_k L_GAN(G, D_k)                                                  (eq. 3)
    L_FM(G, D_k) = E_(s,x) sum_{i=1..T} 1/N_i || D_k^(i)(s, x) - D_k^(i)(s, G(s)) ||_1          (eq. 4)
    min_G ( (max_{D_k} sum_k L_GAN(G, D_k)) + lambda sum_k L_FM(G, D_k) ),  lambda = 10         (eq. 5)

N_i is the number of elements of layer i, so each term is the mean absolute difference over the layer (and
the batch, for the expectation). The layers are D_k's hidden layers, not its output logits, as in the authors'
code; that code also weights each term by 4 / (T + 1) and 1 / K, which eq. 4 does not have and which is left
out here. The real pair's activations are constants (detached), as in that code.

L_GAN is the least-squares GAN (Mao et al. 2017), the paper's "we use the LSGAN": per scale,
G minimises mean (D_k(s, G(s)) - 1)^2 and D minimises 1/2 [mean (D_k(s, x) - 1)^2 + mean D_k(s, G(s))^2] (the
halving is the authors' code's), each a mean over images and patches and summed over the scales
(:func:`ganforge.losses.cyclegan.lsgan_g_loss` and ``lsgan_d_objective`` per scale).

The perceptual loss on VGG features (eq. 6) is optional in the paper and not implemented here.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .cyclegan import lsgan_d_objective, lsgan_g_loss

#: lambda of eq. 5
FM_WEIGHT = 10.0

ScaleOutputs = Sequence[Sequence[torch.Tensor]]  # per scale: hidden activations ..., patch logits


def feature_matching(real: ScaleOutputs, fake: ScaleOutputs) -> torch.Tensor:
    """Eq. 4 summed over the scales: sum_k sum_i mean |D_k^(i)(s, x) - D_k^(i)(s, G(s))| over the hidden layers
    (the last entry of each scale, the logits, is not a feature); the real activations are detached."""
    terms = [(r.detach().float() - f.float()).abs().mean()
             for real_k, fake_k in zip(real, fake, strict=True)
             for r, f in zip(real_k[:-1], fake_k[:-1], strict=True)]
    return torch.stack(terms).sum()


def multiscale_g_loss(fake: ScaleOutputs) -> torch.Tensor:
    """G's least-squares adversarial loss summed over the scales: sum_k mean (D_k(s, G(s)) - 1)^2."""
    return torch.stack([lsgan_g_loss(out[-1]) for out in fake]).sum()


def multiscale_d_objective(real: ScaleOutputs, fake: ScaleOutputs) -> torch.Tensor:
    """What the discriminators descend: sum_k 1/2 [mean (D_k(s, x) - 1)^2 + mean D_k(s, G(s))^2]."""
    return torch.stack([lsgan_d_objective(r[-1], f[-1]) for r, f in zip(real, fake, strict=True)]).sum()


def generator_objective(adversarial: torch.Tensor, fm: torch.Tensor, fm_weight: float = FM_WEIGHT) -> torch.Tensor:
    """Eq. 5, G's side: the adversarial losses of all scales plus lambda times their feature-matching losses."""
    return adversarial + fm_weight * fm
