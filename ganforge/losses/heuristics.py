"""Training heuristics from the sources, as pure functions the GAN family applies when configured.

- One-sided label smoothing (Salimans et al. 2016, section 3.4): real targets 1 - s, fake targets 0.
- Soft noisy labels (the course report on VAE and DCGAN, its DCGAN tricks): real targets ~ U(low, high),
  and in 5% of cases flipped to U(0.0, 0.3); fake targets 0. The report used U(0.7, 1.2); by default high
  is 1, because a target t > 1 makes the binary cross-entropy t softplus(-l) + (1 - t) softplus(l) of that
  image unbounded below (about -(t - 1) l as its logit l grows): a batch's loss_d can then fall below 0
  and is no longer a cross-entropy. (Averaged over freshly drawn targets the optimum is still
  sigmoid(l) = E[t], since the targets do not depend on the image.)
- Instance noise (Sonderby et al. 2017; Dronen 2019 slides): N(0, sigma_t^2) added to every image D sees,
  sigma_t decaying linearly from sigma_0 to 0 over ``decay_steps``.
With targets, each loss gives them its own meaning (``AdversarialLoss.d_loss_targets``): binary
cross-entropy on logits for the minimax/non-saturating losses (the minimax loss of Goodfellow et al. 2014,
eq. 1, when every real target is 1), a soft b in LSGAN's least squares; losses without such a meaning
(hinge, Wasserstein) refuse the options.
"""
from __future__ import annotations

import torch


def real_targets(n: int, smoothing: float, noisy: bool, device, noisy_range: tuple[float, float] = (0.7, 1.0),
                 flip: float = 0.05) -> torch.Tensor:
    """Targets for real images: 1 - smoothing, or soft noisy labels U(noisy_range) with a share ``flip``
    drawn from U(0, 0.3) instead."""
    if not noisy:
        return torch.full((n,), 1.0 - smoothing, device=device)
    low, high = noisy_range
    soft = low + (high - low) * torch.rand(n, device=device)
    flipped = 0.3 * torch.rand(n, device=device)
    return torch.where(torch.rand(n, device=device) < flip, flipped, soft)


def instance_noise_std(sigma0: float, decay_steps: int, step: int) -> float:
    if sigma0 <= 0:
        return 0.0
    if decay_steps <= 0:
        return sigma0
    return sigma0 * max(0.0, 1.0 - step / decay_steps)
