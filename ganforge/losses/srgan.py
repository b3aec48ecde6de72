"""SRGAN's perceptual loss (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", section 2.2) as small pure functions:

    l^SR       = l^SR_X + 10^-3 l^SR_Gen                                                     (eq. 3)
    l^SR_MSE   = 1 / (r^2 W H) sum_x sum_y (I^HR_x,y - G(I^LR)_x,y)^2                        (eq. 4)
    l^SR_VGG/i.j = 1 / (W_ij H_ij) sum_x sum_y (phi_ij(I^HR)_x,y - phi_ij(G(I^LR))_x,y)^2     (eq. 5)
    l^SR_Gen   = sum_n -log D(G(I^LR))                                                       (eq. 6)

The content loss l^SR_X is eq. 4 (pixels; SRResNet and "SRGAN-MSE") or eq. 5 on the feature maps phi of a
fixed network (VGG19 in the paper; ganforge uses its dataset classifier). Means replace the sums: eq. 4 and 5
average over the batch, every pixel (feature) and every channel (eq. 5 sums the channels of each position;
averaging them too divides it by a constant, the number of maps), and eq. 6 is the mean over the batch of
-log D(G(I^LR)) = softplus(-logit), the non-saturating loss (``ns``), which the family takes from the loss
registry as G's ``g_loss``. D's side, eq. 2, is the registered loss's ``d_loss``. Pixels are in [-1, 1] (the
paper computes its MSE "on images of intensity range [-1, 1]").
"""
from __future__ import annotations

import torch

ADVERSARIAL_WEIGHT = 1e-3  # eq. 3


def pixel_mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 4: the mean over the batch, pixels and channels of (I^HR - G(I^LR))^2."""
    return (target.float() - output.float()).pow(2).mean()


def feature_mse(output_features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
    """Eq. 5 on given feature maps (N, K, h, w) (or (N, K)): the mean of their squared differences."""
    return (target_features.float() - output_features.float()).pow(2).mean()


def perceptual_loss(content: torch.Tensor, adversarial: torch.Tensor,
                    adversarial_weight: float = ADVERSARIAL_WEIGHT) -> torch.Tensor:
    """Eq. 3: the content loss plus 10^-3 times the adversarial loss (eq. 6)."""
    return content + adversarial_weight * adversarial
