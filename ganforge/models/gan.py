"""Unconditional GAN family: a generator, a discriminator and a registered adversarial loss.

Goodfellow et al. 2014, Algorithm 1: the loop calls ``d_step`` k times (fresh real batch and fresh z each
time) and then ``g_step`` once. D's one output per image is what the loss reads (a logit for NS/MM/DRAGAN,
a score or critic value otherwise; see ``ganforge.losses``); label smoothing and noisy labels use the loss's
own soft-target D loss and are refused for losses without one. The conditional families
(``ganforge.models.conditional``) reuse both steps through four small hooks: which labels fakes get, how
D is called, an auxiliary loss on D's extra outputs, and which network kinds fit.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import GanforgeError
from ..losses import LOSSES
from ..losses.heuristics import instance_noise_std, real_targets
from ..nets import DISCRIMINATORS, GENERATORS, build_from_spec, make_args
from ..nets.tweaks import apply_spectral_norm, freeze_first_layers
from .base import Batch, FAMILIES, Family


@FAMILIES.register("gan")
class GAN(Family):
    """G: z -> x, D: x -> logit, trained with ``cfg.loss``."""

    #: the discriminator kind this family calls (see ``ganforge.nets.base.Discriminator``)
    d_kind = "plain"
    unused_fields = ("encoder",)

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        self.G = build_from_spec(GENERATORS, cfg.generator, shape, "generator")
        self.D = build_from_spec(DISCRIMINATORS, cfg.discriminator, shape, "discriminator")
        self._check_nets(cfg)
        self.loss = prepare_discriminator(self.D, cfg)
        self.out_range = self.G.out_range
        self.use_targets = cfg.label_smoothing > 0 or cfg.noisy_labels
        if self.use_targets and not self.loss.takes_targets():
            option = "label_smoothing" if cfg.label_smoothing > 0 else "noisy_labels"
            with_targets = ", ".join(name for name, cls in LOSSES.items() if cls.takes_targets())
            raise GanforgeError(f"model.{option} needs soft real targets, which loss {cfg.loss!r} does not "
                                f"have (losses with them: {with_targets})")

    def _check_nets(self, cfg) -> None:
        if self.G.takes_labels != self.conditional:
            need = "a conditional" if self.conditional else "an unconditional"
            raise GanforgeError(f"model.generator {cfg.generator['name']!r} does not fit family {cfg.family!r} "
                                f"(it needs {need} generator)")
        if self.D.kind != self.d_kind:
            raise GanforgeError(f"model.discriminator {cfg.discriminator['name']!r} is a {self.D.kind} "
                                f"discriminator; family {cfg.family!r} needs a {self.d_kind} one")

    # ---- hooks the conditional families override
    def fake_labels(self, n: int, device: torch.device) -> Optional[torch.Tensor]:
        """Labels the generator is asked for in a training step (none for an unconditional GAN)."""
        return None

    def discriminate(self, x: torch.Tensor, labels: Optional[torch.Tensor]) -> tuple[torch.Tensor, object]:
        """D's logit (N,) for images x, and any extra output for :meth:`aux_loss`."""
        return self.net("d")(x), None

    def aux_loss(self, extra: object, labels: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """An extra loss on D's extra outputs (ACGAN's class loss); none here."""
        return None

    def critic(self, labels: Optional[torch.Tensor]) -> nn.Module:
        """D as a one-argument network for gradient penalties."""
        return self.net("d")

    def g_adversarial_loss(self, fake: torch.Tensor, labels: Optional[torch.Tensor],
                           batch: Batch) -> tuple[torch.Tensor, object]:
        """G's adversarial loss on its images ``fake`` (the loss's ``g_loss`` of D's output), and D's extra
        output for :meth:`aux_loss`; the real ``batch`` is there for losses that compare with it (feature
        matching)."""
        with self.autocast():
            fake_out, fake_extra = self.discriminate(self._noisy(fake), labels)
        return self.loss.g_loss(fake_out.float()), fake_extra

    def regularise(self, name: str, loss: torch.Tensor, stats: dict) -> torch.Tensor:
        """The objective of network ``name`` ("d" or "g") before its update: ``loss`` plus any regulariser of
        the family (historical averaging), logged in ``stats``; none here."""
        return loss

    # ---- the two updates
    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        std = instance_noise_std(self.cfg.instance_noise, self.cfg.instance_noise_steps, self.step)
        return x + std * torch.randn_like(x) if std > 0 else x

    def trainable(self):
        return {"g": self.G, "d": self.D}

    def init_from_data(self, mean_image: torch.Tensor) -> None:
        self.G.init_output_bias(mean_image)

    def _adversarial_d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        if self.use_targets:
            targets = real_targets(real_out.shape[0], self.cfg.label_smoothing, self.cfg.noisy_labels,
                                   real_out.device, self.cfg.noisy_labels_range)
            return self.loss.d_loss_targets(real_out, fake_out, targets)
        return self.loss.d_loss(real_out, fake_out)

    def d_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        n, real_labels = batch.images.shape[0], batch.labels
        labels = self.fake_labels(n, batch.images.device)
        with torch.no_grad(), self.autocast():
            fake = self.run_generator(self.net("g"), self.sample_latent(n), labels)
        with self.autocast():
            real_out, real_extra = self.discriminate(self._noisy(batch.images), real_labels)
            fake_out, fake_extra = self.discriminate(self._noisy(fake), labels)
        real_out, fake_out = real_out.float(), fake_out.float()
        loss = self._adversarial_d_loss(real_out, fake_out)
        stats = {}
        aux = self.aux_loss(real_extra, real_labels)
        if aux is not None:  # ACGAN: D learns the class of real and fake images (Odena et al. 2017, L_C)
            loss = loss + aux + self.aux_loss(fake_extra, labels)
            stats["loss_aux_d"] = aux.detach()
        loss = with_penalty(self, self.critic(real_labels), batch.images, fake, loss, stats)
        loss = self.regularise("d", loss, stats)
        return update_discriminator(self, loss, loss, real_out, fake_out, opts, stats)

    def g_step(self, batch: Batch, opts) -> dict[str, torch.Tensor]:
        n = batch.images.shape[0]
        labels = self.fake_labels(n, batch.images.device)
        stats = {}
        with self.d_held():
            with self.autocast():
                fake = self.run_generator(self.net("g"), self.sample_latent(n), labels)
            loss, fake_extra = self.g_adversarial_loss(fake, labels, batch)
            aux = self.aux_loss(fake_extra, labels)
            if aux is not None:
                loss = loss + aux
                stats["loss_aux_g"] = aux.detach()
            loss = self.regularise("g", loss, stats)
            opts["g"].zero_grad(set_to_none=True)
            loss.backward()
        opts["g"].step()
        return {"loss_g": loss.detach(), **stats}


def prepare_discriminator(d: nn.Module, cfg):
    """Apply the config's D switches (spectral norm, frozen first layers) and build its registered loss."""
    if cfg.spectral_norm:
        apply_spectral_norm(d)
    freeze_first_layers(d, cfg.freeze_d_layers)
    loss_cls = LOSSES.get(cfg.loss)
    return loss_cls(make_args(loss_cls, cfg.loss_options))


class LogitOnly(nn.Module):
    """A discriminator returning (logit, extra) -- ACGAN's class logits, InfoGAN's Q outputs -- seen as a
    plain logit network (for gradient penalties)."""

    def __init__(self, d: nn.Module) -> None:
        super().__init__()
        self.d = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.d(x)[0]


def with_penalty(family, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, loss: torch.Tensor,
                 stats: dict) -> torch.Tensor:
    """``loss`` plus the loss family's gradient penalty on ``critic`` (WGAN-GP, DRAGAN), in fp32 outside
    autocast; the penalty is logged in ``stats``."""
    penalty = family.loss.penalty(critic, real, fake)
    if penalty is None:
        return loss
    stats["penalty"] = penalty.detach()
    return loss + penalty


def update_discriminator(family, objective: torch.Tensor, logged: torch.Tensor, real_out: torch.Tensor,
                         fake_out: torch.Tensor, opts, stats: dict) -> dict[str, torch.Tensor]:
    """One D optimiser step on ``objective`` (then WGAN's clipping hook); logs ``logged`` as loss_d and the
    mean D outputs (probabilities for logit losses, raw values otherwise: critics, LSGAN, hinge)."""
    opts["d"].zero_grad(set_to_none=True)
    objective.backward()
    opts["d"].step()
    family.loss.after_d_step(family.D)
    squash = torch.sigmoid if family.loss.outputs_are_logits else (lambda t: t)
    return {"loss_d": logged.detach(), "d_real": squash(real_out).mean().detach(),
            "d_fake": squash(fake_out).mean().detach(), **stats}
