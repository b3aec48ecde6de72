"""Metrics of paired image-to-image tasks: each output against its own target (L1, PSNR, SSIM).

All three take two float tensors (N, C, H, W) with values in [0, ``data_range``] and return one float64
value per image (N,); a data set's score is their mean. torchmetrics and scikit-image, which implement the
same formulas, are not installed here, so they are written with torch and tested against direct
computations (a pixel-window loop for SSIM).

- ``l1_error``: mean absolute difference per image, sum |x - y| / (C H W).
- ``l2_distance``: Euclidean norm of the difference per image, sqrt(sum (x - y)^2) (ModNet's size of change).
- ``psnr``: peak signal-to-noise ratio, 10 log10(R^2 / MSE) with MSE the per-image mean squared error and R
  the data range (inf for identical images). The mean of per-image PSNRs is what super-resolution papers
  (e.g. Ledig et al. 2017, SRGAN) report; torchmetrics' default pools the MSE of the whole batch instead.
- ``ssim``: the structural similarity index of Wang, Bovik, Sheikh and Simoncelli 2004 ("Image Quality
  Assessment: From Error Visibility to Structural Similarity", eq. 13 with the Gaussian window of section
  III.C): local statistics under an 11 x 11 circular-symmetric Gaussian window of standard deviation 1.5
  (normalised to sum 1), mu_x, mu_y, sigma_x^2, sigma_y^2 and sigma_xy as weighted means (no n - 1
  correction), and

      SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

  with C1 = (0.01 R)^2 and C2 = (0.03 R)^2 (K1 = 0.01, K2 = 0.03). The SSIM map covers the windows that lie
  wholly inside the image (Wang's reference ``ssim_index.m``, 'valid' filtering; scikit-image and
  torchmetrics crop the same border), so a 28 x 28 image gives an 18 x 18 map; its mean is the image's
  SSIM, and for several channels the mean over channels (scikit-image's ``channel_axis``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import GanforgeError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check(x: torch.Tensor, y: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape or x.dim() != 4 or not len(x):
        raise GanforgeError(f"{what}: expected two image batches (N, C, H, W) of one shape with N > 0, got "
                            f"{tuple(x.shape)} and {tuple(y.shape)}")
    return x.double(), y.double()


def l1_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each image pair: (N,)."""
    x, y = _check(x, y, "l1")
    return (x - y).abs().flatten(1).mean(dim=1)


def l2_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each image pair's difference, sqrt(sum (x - y)^2) over C H W: (N,)."""
    x, y = _check(x, y, "l2")
    return (x - y).flatten(1).norm(dim=1)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """10 log10(R^2 / MSE) of each image pair: (N,), inf where the images are identical."""
    x, y = _check(x, y, "psnr")
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range ** 2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The normalised 2-d Gaussian window (size, size), float64: the outer product of the 1-d one."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-offsets.pow(2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = SSIM_WINDOW,
             sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The local SSIM of every window wholly inside the images: (N, C, H - window + 1, W - window + 1)."""
    x, y = _check(x, y, "ssim")
    if min(x.shape[-2:]) < window:
        raise GanforgeError(f"ssim: images of {x.shape[-2]}x{x.shape[-1]} px are smaller than its {window} px "
                            f"window")
    c = x.shape[1]
    kernel = gaussian_window(window, sigma).to(x.device).expand(c, 1, window, window)  # one per channel

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=c)  # (N, C, H', W') weighted means over each window

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x ** 2
    var_y = local_mean(y * y) - mu_y ** 2
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = SSIM_WINDOW,
         sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) of each image pair over its windows and channels: (N,)."""
    return ssim_map(x, y, data_range, window, sigma).flatten(1).mean(dim=1)


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
