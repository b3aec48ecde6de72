"""Unconditional GAN family: a generator, a discriminator and a registered adversarial loss.

Goodfellow et al. 2014, Algorithm 1: the loop calls ``d_step`` k times (fresh real batch and fresh z each
time) and then ``g_step`` once. Losses work on logits (see ``ganforge.losses``).
"""
from __future__ import annotations

import contextlib

import torch

from ..errors import GanforgeError
from ..losses import LOSSES
from ..losses.heuristics import instance_noise_std, real_targets, soft_label_d_loss
from ..nets import DISCRIMINATORS, GENERATORS, build_from_spec, make_args
from ..nets.tweaks import apply_spectral_norm, freeze_first_layers
from .base import Batch, FAMILIES, Family


@FAMILIES.register("gan")
class GAN(Family):
    """G: z -> x, D: x -> logit, trained with ``cfg.loss``."""

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.G = build_from_spec(GENERATORS, cfg.generator, shape, "generator")
        self.D = build_from_spec(DISCRIMINATORS, cfg.discriminator, shape, "discriminator")
        if cfg.spectral_norm:
            apply_spectral_norm(self.D)
        freeze_first_layers(self.D, cfg.freeze_d_layers)
        loss_cls = LOSSES.get(cfg.loss)
        self.loss = loss_cls(make_args(loss_cls, cfg.loss_options))
        self.out_range = self.G.out_range
        self.use_targets = cfg.label_smoothing > 0 or cfg.noisy_labels
        if self.use_targets and not self.loss.outputs_are_logits:
            raise GanforgeError(f"label smoothing and noisy labels need a logit loss, not {cfg.loss!r}")

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        std = instance_noise_std(self.cfg.instance_noise, self.cfg.instance_noise_steps, self.step)
        return x + std * torch.randn_like(x) if std > 0 else x

    def trainable(self):
        return {"g": self.G, "d": self.D}

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        self.G.init_output_bias(mean_image)

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        n = batch.images.shape[0]
        with torch.no_grad(), self.autocast():
            fake = self.net("g")(self.sample_latent(n))
        with self.autocast():
            real_out = self.net("d")(self._noisy(batch.images)).float()
            fake_out = self.net("d")(self._noisy(fake)).float()
        if self.use_targets:
            targets = real_targets(n, self.cfg.label_smoothing, self.cfg.noisy_labels, real_out.device)
            loss = soft_label_d_loss(real_out, fake_out, targets)
        else:
            loss = self.loss.d_loss(real_out, fake_out)
        stats = {}
        penalty = self.loss.penalty(self.net("d"), batch.images, fake)  # in fp32, outside autocast
        if penalty is not None:
            loss = loss + penalty
            stats["penalty"] = penalty.detach()
        opts["d"].zero_grad(set_to_none=True)
        loss.backward()
        opts["d"].step()
        self.loss.after_d_step(self.D)
        squash = torch.sigmoid if self.loss.outputs_are_logits else (lambda t: t)
        return {"loss_d": loss.detach(), "d_real": squash(real_out).mean().detach(),
                "d_fake": squash(fake_out).mean().detach(), **stats}

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        n = batch.images.shape[0]
        trainable = [p for p in self.D.parameters() if p.requires_grad]  # frozen layers stay frozen
        if not self.distributed:  # D's weight gradients are not needed for the G update
            for p in trainable:
                p.requires_grad_(False)
        # Under DDP, D's gradients from the G loss are discarded: do not all-reduce them.
        no_sync = getattr(self.net("d"), "no_sync", None)
        skip_d_sync = no_sync() if no_sync is not None else contextlib.nullcontext()
        try:
            with skip_d_sync:
                with self.autocast():
                    fake_out = self.net("d")(self._noisy(self.net("g")(self.sample_latent(n)))).float()
                loss = self.loss.g_loss(fake_out)
                opts["g"].zero_grad(set_to_none=True)
                loss.backward()
            opts["g"].step()
        finally:
            for p in trainable:
                p.requires_grad_(True)
        return {"loss_g": loss.detach()}
