"""Writing samples: a PNG grid or an .npz of uint8 (N, H, W, C) images (+ labels for conditional models).

A conditional model's PNG without ``--class`` is a class-row grid: one row per class (Nair and Shah 2017, Fig. 2);
an image-modifying model's (ModNet) is one row per source image: the source, then delta and result per class;
a paired image-to-image model's (pix2pix) is triplets input | output | target."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from .models import SamplerRequest
from .training.trained import load
from .errors import GanforgeError
from .fileio import atomic_path


def write_samples(run_dir: str | Path, n: int, seed: int, out: str | Path, class_id: Optional[int] = None,
                  use_ema: bool = True, checkpoint: str | Path | None = None, draw: bool = False,
                  sampler: Optional[Mapping[str, Any]] = None) -> Path:
    """Sample ``n`` images from a run and write them to ``out`` (``.png`` grid or ``.npz``); ``sampler``: the
    sampler settings of an iterative family (``{"steps": 20}``, see ``TrainedModel.sample``)."""
    return write_samples_recorded(run_dir, n, seed, out, class_id, use_ema, checkpoint, draw, sampler)[0]


def write_samples_recorded(run_dir: str | Path, n: int, seed: int, out: str | Path, class_id: Optional[int] = None,
                           use_ema: bool = True, checkpoint: str | Path | None = None, draw: bool = False,
                           sampler: Optional[Mapping[str, Any]] = None) -> tuple[Path, dict]:
    """:func:`write_samples` and the sampling record (``TrainedModel.sample_timed``: network evaluations per
    image, seconds)."""
    out = Path(out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise GanforgeError(f"--out {out}: expected a .png (grid) or .npz (arrays) file name")
    if n <= 0:
        raise GanforgeError(f"--n must be positive, got {n}")
    model = load(run_dir, checkpoint)
    labels = None
    if class_id is not None:
        if not model.conditional:
            raise GanforgeError(f"--class: the model in {run_dir} is not conditional")
        if not 0 <= class_id < model.num_classes:
            raise GanforgeError(f"--class {class_id}: expected 0..{model.num_classes - 1}")
        labels = torch.full((n,), class_id, dtype=torch.int64)
    elif model.conditional:
        labels = torch.arange(n) % model.num_classes
    if out.suffix.lower() == ".png" and model.family.needs_sources and class_id is None:
        with model.family.sampling(SamplerRequest(**(sampler or {}))) as record:
            _write_modification_grid(model, n, seed, out, use_ema)
        return out, record
    cols = int(math.ceil(math.sqrt(n)))
    if out.suffix.lower() == ".png" and model.conditional and class_id is None:
        cols = int(math.ceil(n / model.num_classes))  # one row per class
        labels = torch.arange(n) // cols
    images, record = model.sample_timed(n, seed=seed, labels=labels, use_ema=use_ema, draw=draw, **(sampler or {}))
    if out.suffix.lower() == ".png":
        _write_grid(images, out, cols)
    else:
        _write_npz(images, labels, out)
    return out, record


def _write_modification_grid(model, n: int, seed: int, out: Path, use_ema: bool) -> None:
    """An image-modifying model's PNG, laid out by the family: ModNet shows ceil(n / K) source images of its
    source set, one row each (source | delta, result for each target class); pix2pix n triplets input |
    output | target."""
    count, cols = model.family.grid_layout(n)
    z = model.family.sample_latent(count, torch.Generator().manual_seed(seed), device="cpu")
    images, cols = model.family.grid_images(z, None, cols, use_ema=use_ema)
    _write_grid(images, out, cols)


def _write_grid(images: torch.Tensor, out: Path, cols: int) -> None:
    from torchvision.utils import save_image

    with atomic_path(out) as tmp:
        save_image(images.float() / 255.0, tmp, nrow=cols, padding=2)


def _write_npz(images: torch.Tensor, labels: Optional[torch.Tensor], out: Path) -> None:
    arrays = {"images": images.permute(0, 2, 3, 1).contiguous().numpy()}  # (N, H, W, C) uint8
    if labels is not None:
        arrays["labels"] = labels.numpy().astype(np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with atomic_path(out) as tmp:
        tmp.write_bytes(buffer.getvalue())
