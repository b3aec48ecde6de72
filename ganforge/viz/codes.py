"""What each InfoGAN latent code does: ``ganforge viz RUN codes`` (Chen et al. 2016, Fig. 2).

``rows`` latent vectors are drawn once (noise and codes, from ``seed``); every block of the picture changes
one code of them and keeps everything else fixed, so a row shows one z under that code's variation:

- categorical code j (K_j categories): ``rows`` rows x K_j columns, column k sets the code to category k;
- continuous code i: ``rows`` rows x ``steps`` columns sweeping the code over linspace(-2, 2, steps) (beyond
  the training range U(-1, 1), as the paper's Fig. 2 (c, d) does).

Blocks come in latent order (categorical codes, then continuous ones), separated by one blank row. All rows
are ``cols = max(K_1, ..., steps)`` wide; a shorter row is padded with blank tiles on the right.
"""
from __future__ import annotations

import torch

from ..errors import GanforgeError
from ..models import generate_uint8
from ..models.infogan import CodeLayout, InfoGAN
from . import VIZ, Picture, VizOptions

SWEEP = (-2.0, 2.0)  # the continuous codes' sweep (Chen et al. 2016, Fig. 2 c-d)


def code_blocks(layout: CodeLayout, base: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """One latent block per code, (rows, columns, total), from base latents (rows, total)."""
    noise, cat, cont = layout.split(base)
    rows = base.shape[0]
    blocks = []
    for j, k in enumerate(layout.categorical):
        varied = cat[:, None, :].repeat(1, k, 1)  # (rows, k, n_cat)
        varied[:, :, j] = torch.arange(k)
        blocks.append(layout.assemble(noise.repeat_interleave(k, 0), varied.reshape(rows * k, -1),
                                      cont.repeat_interleave(k, 0)).reshape(rows, k, -1))
    values = torch.linspace(*SWEEP, steps)
    for i in range(layout.continuous):
        varied = cont[:, None, :].repeat(1, steps, 1)  # (rows, steps, n_cont)
        varied[:, :, i] = values
        blocks.append(layout.assemble(noise.repeat_interleave(steps, 0), cat.repeat_interleave(steps, 0),
                                      varied.reshape(rows * steps, -1)).reshape(rows, steps, -1))
    return blocks


def _tile(images: torch.Tensor, rows: int, width: int, cols: int) -> torch.Tensor:
    """(rows * width, C, H, W) -> (rows * cols, C, H, W), each row padded with blank tiles."""
    grid = images.reshape(rows, width, *images.shape[1:])
    pad = grid.new_zeros((rows, cols - width, *images.shape[1:]))
    return torch.cat([grid, pad], dim=1).reshape(rows * cols, *images.shape[1:])


@VIZ.register("codes")
def codes(model, options: VizOptions) -> Picture:
    """Each InfoGAN code varied with the noise and the other codes fixed (one block per code)."""
    family = model.family
    if not isinstance(family, InfoGAN):
        raise GanforgeError(f"codes needs an InfoGAN model (this run's family is {model.config.model.family!r})")
    layout = family.layout
    base = family.sample_latent(options.rows, torch.Generator().manual_seed(options.seed), device="cpu")
    blocks = code_blocks(layout, base, options.steps)
    cols = max(block.shape[1] for block in blocks)
    parts = []
    for b, block in enumerate(blocks):
        rows, width = block.shape[:2]
        images = generate_uint8(model.family, block.reshape(rows * width, -1), None, options.use_ema)
        if b:
            parts.append(images.new_zeros((cols, *images.shape[1:])))  # a blank row between blocks
        parts.append(_tile(images, rows, width, cols))
    return Picture(torch.cat(parts), cols)
