"""Metrics of paired image-to-image tasks: each output against its own target (L1, PSNR, SSIM).

All three take two float tensors (N, C, H, W) with values in [0, ``data_range``] and return one float64
value per image (N,); a data set's score is their mean. PSNR and SSIM are scikit-image's
(``skimage.metrics``), called per image with the settings of the papers; tests compare them with direct
computations (a pixel-window loop for SSIM). torchmetrics is not used: its SSIM (1.9) averages the local SSIM
over a reflection-padded border too, so its values differ from Wang's reference.

- ``l1_error``: mean absolute difference per image, sum |x - y| / (C H W).
- ``l2_distance``: Euclidean norm of the difference per image, sqrt(sum (x - y)^2) (ModNet's size of change).
- ``psnr``: peak signal-to-noise ratio, 10 log10(R^2 / MSE) with MSE the per-image mean squared error and R
  the data range (inf for identical images). The mean of per-image PSNRs is what super-resolution papers
  (e.g. Ledig et al. 2017, SRGAN) report; torchmetrics' default pools the MSE of the whole batch instead.
- ``ssim``: the structural similarity index of Wang, Bovik, Sheikh and Simoncelli 2004 ("Image Quality
  Assessment: From Error Visibility to Structural Similarity", eq. 13 with the Gaussian window of section
  III.C): local statistics under an 11 x 11 circular-symmetric Gaussian window of standard deviation 1.5
  (normalised to sum 1; scikit-image's ``gaussian_weights=True, sigma=1.5``), mu_x, mu_y, sigma_x^2, sigma_y^2
  and sigma_xy as weighted means (no n - 1 correction: ``use_sample_covariance=False``), and

      SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

  with C1 = (0.01 R)^2 and C2 = (0.03 R)^2 (K1 = 0.01, K2 = 0.03). The SSIM map covers the windows that lie
  wholly inside the image (Wang's reference ``ssim_index.m``, 'valid' filtering; scikit-image crops the same
  border), so a 28 x 28 image gives an 18 x 18 map; its mean is the image's SSIM, and for several channels the
  mean over channels (``channel_axis``).
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..errors import GanforgeError

SSIM_WINDOW = 11  # what sigma 1.5 gives in scikit-image (radius int(3.5 sigma + 0.5) = 5)
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check(x: torch.Tensor, y: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape or x.dim() != 4 or not len(x):
        raise GanforgeError(f"{what}: expected two image batches (N, C, H, W) of one shape with N > 0, got "
                            f"{tuple(x.shape)} and {tuple(y.shape)}")
    return x.detach().cpu().double(), y.detach().cpu().double()


def l1_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each image pair: (N,)."""
    x, y = _check(x, y, "l1")
    return (x - y).abs().flatten(1).mean(dim=1)


def l2_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each image pair's difference, sqrt(sum (x - y)^2) over C H W: (N,)."""
    x, y = _check(x, y, "l2")
    return (x - y).flatten(1).norm(dim=1)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """10 log10(R^2 / MSE) of each image pair: (N,), inf where the images are identical
    (``skimage.metrics.peak_signal_noise_ratio`` per image)."""
    x, y = _check(x, y, "psnr")
    with np.errstate(divide="ignore"):  # identical images: inf, as the definition says
        values = [peak_signal_noise_ratio(a, b, data_range=data_range) for a, b in zip(x.numpy(), y.numpy())]
    return torch.tensor(values, dtype=torch.float64)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) of each image pair over its windows and channels: (N,)
    (``skimage.metrics.structural_similarity`` per image with Wang's settings)."""
    x, y = _check(x, y, "ssim")
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise GanforgeError(f"ssim: images of {x.shape[-2]}x{x.shape[-1]} px are smaller than its {SSIM_WINDOW} px "
                            f"window")
    values = [structural_similarity(a, b, channel_axis=0, data_range=data_range, gaussian_weights=True,
                                    sigma=SSIM_SIGMA, use_sample_covariance=False, K1=SSIM_K1, K2=SSIM_K2)
              for a, b in zip(x.numpy(), y.numpy())]  # a, b: (C, H, W)
    return torch.tensor(values, dtype=torch.float64)


def paired_scores(outputs: torch.Tensor, targets: torch.Tensor, chunk: int = 1000) -> dict[str, float]:
    """Mean L1, PSNR and SSIM of uint8 outputs (N, C, H, W) against uint8 targets, on pixels / 255 (R = 1),
    in chunks of ``chunk`` images (the result does not depend on it)."""
    if outputs.dtype != torch.uint8 or targets.dtype != torch.uint8:
        raise GanforgeError(f"paired scores: expected uint8 images, got {outputs.dtype} and {targets.dtype}")
    _check(outputs[:1], targets[:1], "paired scores")
    if outputs.shape != targets.shape:
        raise GanforgeError(f"paired scores: {len(outputs)} outputs for {len(targets)} targets")
    sums = {"l1": 0.0, "psnr": 0.0, "ssim": 0.0}
    for start in range(0, len(outputs), chunk):
        x, y = (t[start:start + chunk].double() / 255.0 for t in (outputs, targets))
        sums["l1"] += float(l1_error(x, y).sum())
        sums["psnr"] += float(psnr(x, y).sum())
        sums["ssim"] += float(ssim(x, y).sum())
    return {k: v / len(outputs) for k, v in sums.items()}
