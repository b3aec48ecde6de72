"""The Python entry points the CLI is a thin layer over: ``train`` and ``load``.

    import ganforge
    run = ganforge.train("lucic-ns", "runs/ns", steps=3000, precision="bf16")
    model = ganforge.load(run)
    images = model.sample(64, seed=0)        # uint8 (64, 1, 28, 28)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from .config import RunConfig, from_dict, resolve_config
from .errors import GanforgeError
from .models import FAMILIES, Family, to_uint8
from .nets import NetShape
from .runs import RunDir
from .training.checkpoint import checkpoint_config, load_checkpoint, load_model_state


def resolve_run_config(preset: str, out: str | Path, resume: bool, overrides: dict[str, Any]) -> RunConfig:
    """The config a ``train`` call would use: the preset's, or on resume the run's own, plus overrides."""
    if not resume:
        return resolve_config(preset, overrides)
    saved = RunDir(out).read_config()
    if saved.get("preset") != preset:
        raise GanforgeError(f"--resume: {out} was trained with preset {saved.get('preset')!r}, not {preset!r}")
    return resolve_config(preset, overrides, base=saved)


def train(preset: str, out: str | Path, resume: bool = False, **overrides: Any) -> Path:
    """Train ``preset`` into run directory ``out`` (what ``ganforge train`` runs); returns ``out``."""
    from .training.loop import Trainer

    cfg = resolve_run_config(preset, out, resume, overrides)
    return Trainer(cfg, out, resume=resume).fit()


class TrainedModel:
    """A model family restored from a checkpoint, ready to sample."""

    def __init__(self, family: Family, config: RunConfig, step: int, checkpoint: Path) -> None:
        self.family, self.config, self.step, self.checkpoint = family, config, step, checkpoint

    @property
    def conditional(self) -> bool:
        return self.family.conditional

    @property
    def num_classes(self) -> int:
        return self.family.shape.num_classes

    def sample(self, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None, batch_size: int = 500,
               use_ema: bool = True, draw: bool = False) -> torch.Tensor:
        """n images as uint8 (N, C, H, W) on the CPU; the same seed gives the same images at any batch size.

        ``draw=True`` (VAE) gives Bernoulli draws of the pixels rather than their means."""
        device = next(self.family.parameters()).device
        z = self.family.sample_latent(n, torch.Generator().manual_seed(seed), device="cpu")
        pixels = torch.Generator().manual_seed(seed + 1) if draw else None
        if self.conditional and labels is None:
            labels = torch.arange(n) % self.num_classes
        out = []
        for start in range(0, n, batch_size):
            lab = labels[start:start + batch_size].to(device) if labels is not None else None
            images = self.family.generate(z[start:start + batch_size].to(device), lab, use_ema=use_ema,
                                          draw=pixels)
            out.append(to_uint8(images).cpu())
        return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


def load(run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "cpu") -> TrainedModel:
    """Restore the latest checkpoint of ``run_dir`` (or ``checkpoint``) as a :class:`TrainedModel`."""
    run = RunDir(run_dir)
    path = Path(checkpoint) if checkpoint else run.latest_checkpoint()
    if path is None:
        if not run.root.is_dir():
            raise GanforgeError(f"run directory {run.root} does not exist")
        raise GanforgeError(f"{run.root} has no checkpoint yet (expected {run.ckpt_dir}/step-N.pt)")
    payload = load_checkpoint(path)
    cfg = from_dict(RunConfig, checkpoint_config(payload))
    shape = payload["shape"]
    family = FAMILIES.get(cfg.model.family)(cfg.model, NetShape(shape["channels"], shape["image_size"],
                                                                 cfg.model.z_dim, shape["num_classes"]))
    if cfg.ema_decay > 0:
        family.enable_ema(cfg.ema_decay)
    load_model_state(family, payload["model"], path)
    family.to(device).eval()
    return TrainedModel(family, cfg, int(payload["step"]), path)


__all__ = ["train", "load", "TrainedModel"]
