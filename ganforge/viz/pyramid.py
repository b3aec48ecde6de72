"""LAPGAN's pyramid picture: ``ganforge viz RUN pyramid --out FILE.png``.

Denton, Chintala, Szlam and Fergus 2015, "Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks", section 2.3 (the sampling procedure): one row per latent, left to right the coarse
sample I~_K, then for each finer level the upsampled coarser image l_k = u(I~_k+1) and l_k plus the generated
residual, I~_k; the last column is the sample. Every stage is shown at the image size (nearest-neighbour
enlargement). The same picture is the run's progress grid (``samples/step-N.png``).
"""
from __future__ import annotations

import torch

from ..errors import GanforgeError
from . import VIZ, Picture, VizOptions


@VIZ.register("pyramid")
def pyramid(model, options: VizOptions) -> Picture:
    """``options.rows`` latents (seeded by ``options.seed``), one row of pyramid stages each."""
    family = model.family
    if not hasattr(family, "pyramid_stages"):
        raise GanforgeError(f"pyramid needs a LAPGAN model (this run's family is {model.config.model.family!r})")
    z = family.sample_latent(options.rows, torch.Generator().manual_seed(options.seed), device="cpu")
    stages = family.pyramid_stages(z, options.use_ema)  # 2K + 1 tensors (rows, C, H, W)
    return Picture(torch.stack(stages, dim=1).flatten(0, 1), len(stages))
