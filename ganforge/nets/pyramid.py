"""Gaussian and Laplacian image pyramids (Burt and Adelson 1983), as LAPGAN uses them.

Denton, Chintala, Szlam and Fergus 2015, "Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks", section 2.2: d(.) "blurs and decimates" a j x j image to j/2 x j/2, u(.) "smooths and
expands" it back to j x j. The Gaussian pyramid is I_0 = I, I_{k+1} = d(I_k); the Laplacian pyramid's
coefficients are

    h_k = I_k - u(I_{k+1})   (k < K),      h_K = I_K

and the image is rebuilt coarse to fine by the backward recurrence I_k = u(I_{k+1}) + h_k, exactly (up to
float rounding) whatever d and u are. The paper does not fix the filters; here both are fixed torch ops:

- d(x) = ``F.avg_pool2d(x, 2)``: a 2 x 2 box blur followed by taking every second pixel, in one op;
- u(x) = ``F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)``: bilinear expansion,
  the smoothing interpolation the authors' code uses (Torch7 ``image.scale``, bilinear by default).

Index 0 is the finest level throughout (as in the paper); lists run finest first.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import GanforgeError


def downsample(x: torch.Tensor) -> torch.Tensor:
    """d(.): (N, C, H, W) -> (N, C, H/2, W/2), the mean of each 2 x 2 block."""
    return F.avg_pool2d(x, 2)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """u(.): (N, C, H, W) -> (N, C, 2H, 2W), bilinear (half-pixel centres, edges clamped)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def level_sizes(image_size: int, levels: int) -> list[int]:
    """Side lengths of the ``levels`` pyramid levels, finest first: 28, 3 -> [28, 14, 7]."""
    if levels < 2:
        raise GanforgeError(f"a Laplacian pyramid needs at least 2 levels, got {levels}")
    if image_size % 2 ** (levels - 1):
        raise GanforgeError(f"a {levels}-level pyramid halves the image {levels - 1} times and needs an image size "
                            f"divisible by {2 ** (levels - 1)}, got {image_size}")
    return [image_size // 2 ** k for k in range(levels)]


def gaussian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[I_0, ..., I_K] with I_0 = image (N, C, H, W) and I_{k+1} = d(I_k); K = levels - 1."""
    level_sizes(image.shape[-1], levels)
    out = [image]
    for _ in range(levels - 1):
        out.append(downsample(out[-1]))
    return out


def laplacian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[h_0, ..., h_K]: h_k = I_k - u(I_{k+1}) for k < K and h_K = I_K (section 2.2)."""
    g = gaussian_pyramid(image, levels)
    return [g[k] - upsample(g[k + 1]) for k in range(levels - 1)] + [g[-1]]


def reconstruct(coefficients: list[torch.Tensor]) -> torch.Tensor:
    """The image of Laplacian coefficients [h_0, ..., h_K]: I_K = h_K, then I_k = u(I_{k+1}) + h_k (section 2.2)."""
    image = coefficients[-1]
    for h in reversed(coefficients[:-1]):
        image = upsample(image) + h
    return image
