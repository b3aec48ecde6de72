"""A trained model restored from a run's checkpoint, ready to sample: ``load`` and :class:`TrainedModel`.

    model = ganforge.load("runs/ns")
    images = model.sample(64, seed=0)        # uint8 (64, 1, 28, 28)

It lives with training (it reads the checkpoints training writes) so that evaluation, the pictures and
the CLI can all build on it without importing each other.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import torch

from ..config import RunConfig, from_dict
from ..data import load_dataset, test_split_of
from ..errors import GanforgeError
from ..models import FAMILIES, Family, SamplerRequest, generate_uint8
from ..nets import NetShape
from ..runs import RunDir
from .checkpoint import checkpoint_config, load_checkpoint, load_model_state
from .feed import prepare


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

    def sample(self, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None,
               batch_size: Optional[int] = None, use_ema: bool = True, draw: bool = False,
               **sampler: Any) -> torch.Tensor:
        """n images as uint8 (N, C, H, W) on the CPU; the same seed gives the same images at any batch size
        (default: the family's ``sample_chunk``, the fastest on a CPU).

        ``draw=True`` (VAE) gives Bernoulli draws of the pixels rather than their means. The iterative families
        (``ddpm``, ``flow``) take sampler settings (:class:`~ganforge.models.SamplerRequest`: ``steps``,
        ``sampler``, ``eta``, ``guidance``), e.g. ``model.sample(64, steps=20)``."""
        return self.sample_timed(n, seed, labels, batch_size, use_ema, draw, **sampler)[0]

    def sample_timed(self, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None,
                     batch_size: Optional[int] = None, use_ema: bool = True, draw: bool = False,
                     **sampler: Any) -> tuple[torch.Tensor, dict]:
        """:meth:`sample` and the record of how: the sampler settings, ``nfe_per_image`` (network evaluations
        per image: 1 for one-pass families), ``images`` and the wall ``seconds`` spent sampling."""
        request = SamplerRequest(**sampler)
        z = self.family.sample_latent(n, torch.Generator().manual_seed(seed), device="cpu")
        pixels = torch.Generator().manual_seed(seed + 1) if draw else None
        if self.conditional and labels is None:
            labels = torch.arange(n) % self.num_classes
        with self.family.sampling(request) as record:
            started = time.perf_counter()
            images = generate_uint8(self.family, z, labels, use_ema=use_ema, draw=pixels,
                                    chunk=batch_size)
            seconds = time.perf_counter() - started
        return images, {**record, "images": n, "seconds": round(seconds, 3)}


    def modify(self, images: torch.Tensor, targets: torch.Tensor,
               use_ema: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """An image-modifying model's (result, delta) for ``images`` (uint8, or floats in [-1, 1]) and target
        labels, as floats in [-1, 1] and [-2, 2] (ModNet); other models have no such thing."""
        if not self.family.needs_sources or not hasattr(self.family, "modify"):
            raise GanforgeError(f"model family {self.config.model.family!r} does not modify images to target labels")
        return self.family.modify(images, targets, use_ema=use_ema)

    @property
    def paired(self) -> bool:
        """Whether the model translates paired inputs into targets (pix2pix)."""
        return hasattr(self.family, "sample_pairs")

    @property
    def unpaired(self) -> bool:
        """Whether the model translates between two unpaired image sets (CycleGAN)."""
        return self.family.unpaired

    def cycles(self, n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """An unpaired model's uint8 (N, C, H, W) x, G(x), F(G(x)), y, F(y), G(F(y)) for ``n`` test images x of
        ``data`` and ``n`` of ``data_target`` (y); G(x) is what ``sample(n, seed)`` returns (the same x)."""
        if not self.unpaired:
            raise GanforgeError(f"model family {self.config.model.family!r} does not translate unpaired images")
        z = self.family.sample_latent(n, torch.Generator().manual_seed(seed), device="cpu")
        return self.family.sample_cycles(z)

    def translations(self, n: int, seed: int = 0,
                     direction: str = "xy") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """An unpaired model's uint8 (N, C, H, W) x, G(x), F(G(x)) for ``n`` test images x of ``data``: the
        first three of :meth:`cycles` (the same x), without translating the images of ``data_target``. With
        ``direction="yx"``: y, F(y), G(F(y)) for ``n`` test images y of ``data_target``, the last three."""
        if not self.unpaired:
            raise GanforgeError(f"model family {self.config.model.family!r} does not translate unpaired images")
        if direction not in ("xy", "yx"):
            raise GanforgeError(f"translation direction {direction!r} is not one of: xy, yx")
        z = self.family.sample_latent(n, torch.Generator().manual_seed(seed), device="cpu")
        x, y = self.family.split(z)
        return self.family.cycle_of(x, "g") if direction == "xy" else self.family.cycle_of(y, "f")

    def pairs(self, n: int, seed: int = 0, use_ema: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A paired image-to-image model's (inputs, outputs, targets) as uint8 (N, C, H, W) for ``n`` pairs of
        its test split; ``outputs`` is what ``sample(n, seed)`` returns (the same pairs)."""
        if not self.paired:
            raise GanforgeError(f"model family {self.config.model.family!r} does not translate paired images")
        z = self.family.sample_latent(n, torch.Generator().manual_seed(seed), device="cpu")
        return self.family.sample_pairs(z, use_ema=use_ema)


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
    run.check_checkpoint_model(cfg.model, path)
    shape = payload["shape"]
    family = FAMILIES.get(cfg.model.family)(cfg.model, NetShape(shape["channels"], shape["image_size"],
                                                                 cfg.model.z_dim, shape["num_classes"]))
    if cfg.ema_decay > 0:
        family.enable_ema(cfg.ema_decay, cfg.ema_bn)
    load_model_state(family, payload["model"], path)
    family.data_root = cfg.data_root
    if family.needs_sources:
        family.set_sources(source_images(cfg))
    if family.unpaired:
        family.set_unpaired_sources(source_images(cfg, cfg.data_target))
    family.to(device).eval()
    return TrainedModel(family, cfg, int(payload["step"]), path)


def source_images(cfg: RunConfig, data: str | None = None) -> torch.Tensor:
    """The images an image-modifying model (ModNet, pix2pix, CycleGAN) samples from after training: the test
    split of its training data (or of ``data``, e.g. CycleGAN's ``data_target``), at its training size, as
    uint8 (M, C, H, W)."""
    spec = test_split_of(data or cfg.data)
    try:
        return prepare(load_dataset(spec, cfg.data_root), cfg.image_size).images
    except GanforgeError as exc:
        raise GanforgeError(f"model family {cfg.model.family!r} samples by modifying the images of {spec}, "
                            f"which could not be loaded: {exc}") from None
