"""The learned 2-d manifold (Kingma & Welling 2014, Fig. 4; Skliar's report, Q1.15 and Fig. 6).

A steps x steps grid of evenly spaced probabilities on the unit square is mapped through the inverse CDF
of the standard normal (``scipy.stats.norm.ppf``), so each latent point stands for an equal share of the
prior's mass, and the generator's outputs (a VAE decoder's Bernoulli means) are drawn at those points.
The probabilities are the midpoints (i + 1/2) / steps, which keeps the ends finite (the report starts its
range at 0.0001 for the same reason). Columns run through z_1, rows through z_2, both increasing.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from ..errors import GanforgeError
from ..models import generate_uint8
from . import VIZ, Picture, VizOptions


def normal_quantile_grid(steps: int, scale: float = 1.0) -> torch.Tensor:
    """Latents (steps * steps, 2), row-major: point (r, c) = scale * (ppf(p_c), ppf(p_r)), p_i = (i + 1/2) / steps."""
    q = torch.as_tensor(norm.ppf((np.arange(steps) + 0.5) / steps), dtype=torch.float32) * scale  # (steps,)
    z2, z1 = torch.meshgrid(q, q, indexing="ij")  # (steps, steps) each
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (steps * steps, 2)


def _check_model(model) -> None:
    mc = model.config.model
    if mc.z_dim != 2:
        raise GanforgeError(f"manifold needs a model with a 2-d latent (this run's model.z_dim is {mc.z_dim})")
    if mc.z_dist != "normal":
        raise GanforgeError(f"manifold needs a normal latent (this run's model.z_dist is {mc.z_dist!r})")
    if model.conditional:
        raise GanforgeError("manifold needs an unconditional model (this run's family is "
                            f"{mc.family!r})")


@VIZ.register("manifold")
def manifold(model, options: VizOptions) -> Picture:
    """The generator's means over a ``steps`` x ``steps`` grid of normal quantiles (Skliar's report, Fig. 6)."""
    _check_model(model)
    z = normal_quantile_grid(options.steps, model.config.model.z_scale)
    return Picture(generate_uint8(model.family, z, None, options.use_ema), options.steps)
