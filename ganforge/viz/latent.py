"""Latent interpolations (Skliar's report, Fig. 9) and the fixed-noise class sweep (Nair and Shah 2017, Fig. 3)."""
from __future__ import annotations

import torch

from ..errors import GanforgeError
from ..models import generate_uint8
from . import VIZ, Picture, VizOptions


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line a + t (b - a); a, b (N, D), t (T,) -> (N, T, D)."""
    return a[:, None] + t[None, :, None] * (b - a)[:, None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 "Sampling generative networks", eq. 1):
    sin((1-t) w)/sin(w) a + sin(t w)/sin(w) b with w the angle between a and b; falls back to the line
    when a and b are (nearly) parallel. a, b (N, D), t (T,) -> (N, T, D)."""
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1.0, 1.0)  # (N,)
    omega = torch.arccos(cos)[:, None, None]  # (N, 1, 1)
    sin = torch.sin(omega)
    tt = t[None, :, None]
    spherical = (torch.sin((1 - tt) * omega) * a[:, None] + torch.sin(tt * omega) * b[:, None]) / sin.clamp_min(1e-7)
    return torch.where(sin.abs() < 1e-6, lerp(a, b, t), spherical)


PATHS = {"linear": lerp, "spherical": slerp}


def _row_labels(model, rows: int, cols: int) -> torch.Tensor | None:
    if not model.conditional:
        return None
    return (torch.arange(rows) % model.num_classes).repeat_interleave(cols)


@VIZ.register("interpolate")
def interpolate(model, options: VizOptions) -> Picture:
    """``rows`` pairs of latent points, each row walking from one to the other in ``steps`` images, along
    a straight line or a great circle (``path``); a conditional model keeps one class per row."""
    if options.path not in PATHS:
        raise GanforgeError(f"--path {options.path!r}: expected one of {', '.join(PATHS)}")
    gen = torch.Generator().manual_seed(options.seed)
    ends = model.family.sample_latent(2 * options.rows, gen, device="cpu")
    t = torch.linspace(0.0, 1.0, options.steps)
    z = PATHS[options.path](ends[:options.rows], ends[options.rows:], t).reshape(-1, ends.shape[1])
    labels = _row_labels(model, options.rows, options.steps)
    return Picture(generate_uint8(model.family, z, labels, options.use_ema), options.steps)


@VIZ.register("class-sweep")
def class_sweep(model, options: VizOptions) -> Picture:
    """Each row keeps one z and runs through every class (Nair and Shah 2017, Fig. 3: does the label matter?)."""
    if not model.conditional:
        raise GanforgeError("class-sweep needs a conditional model (this run's family is "
                            f"{model.config.model.family!r})")
    k = model.num_classes
    gen = torch.Generator().manual_seed(options.seed)
    z = model.family.sample_latent(options.rows, gen, device="cpu").repeat_interleave(k, dim=0)
    labels = torch.arange(k).repeat(options.rows)
    return Picture(generate_uint8(model.family, z, labels, options.use_ema), k)
