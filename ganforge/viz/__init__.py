"""Pictures of a trained model's latent space: ``ganforge viz RUN KIND --out FILE.png``.

Each kind is a registered function ``(model, VizOptions) -> Picture`` (a batch of uint8 images and the
number of columns); this module restores the model and writes the grid atomically. Every module of this
package is imported, so a new picture is one new file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from ..errors import GanforgeError
from ..fileio import atomic_path
from ..registry import Registry, import_submodules


@dataclass
class VizOptions:
    """What the user asked for; each picture uses the fields that apply to it."""

    seed: int = 0
    rows: int = 8           # latent points / rows
    steps: int = 10         # columns of an interpolation or a code sweep
    path: str = "spherical"  # interpolate: "linear" or "spherical"
    use_ema: bool = True


@dataclass
class Picture:
    images: torch.Tensor  # uint8 (N, C, H, W)
    cols: int


VIZ: Registry[Callable[..., Picture]] = Registry("picture")


def make_picture(run: str | Path, kind: str, out: str | Path, options: Optional[VizOptions] = None,
                 checkpoint: str | Path | None = None) -> Path:
    """Draw picture ``kind`` of the model in ``run`` into the PNG ``out``."""
    from torchvision.utils import save_image

    from ..training.trained import load

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise GanforgeError(f"--out {out}: expected a .png file name")
    draw = VIZ.get(kind)
    options = options or VizOptions()
    if options.rows <= 0 or options.steps < 2:
        raise GanforgeError(f"--rows must be positive and --steps at least 2 (got {options.rows}, {options.steps})")
    picture = draw(load(run, checkpoint), options)
    with atomic_path(out) as tmp:
        save_image(picture.images.float() / 255.0, tmp, nrow=picture.cols, padding=2)
    return out


import_submodules(__name__, __path__)

__all__ = ["VIZ", "Picture", "VizOptions", "make_picture"]
