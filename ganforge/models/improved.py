"""Improved GAN: Salimans et al. 2016, "Improved Techniques for Training GANs".

The unconditional GAN family (``ganforge.models.gan``) with the paper's techniques as options
(``model.options``):

- ``feature_matching`` (section 3.1): G minimises ||E f(x) - E f(G(z))||_2^2 on D's intermediate layer
  (the discriminator's ``hidden_features``; the real batch of the step gives E f(x)) instead of the
  adversarial loss.
  Basart 2017 ("Analysis of Generative Adversarial Models", section 3.1.1) summarises Improved GAN this way:
  it "modifies the loss by penalizing the difference between layers of generator and discriminator".
- ``historical_averaging`` w > 0 (section 3.3): each player's cost gains w ||theta - (1/t) sum_i theta[i]||^2.

The other two are options every GAN has: one-sided label smoothing (section 3.4) is ``model.label_smoothing``
(0.1 gives the paper's target .9) and minibatch discrimination (section 3.2) is a layer of the discriminator
(``dcgan-d`` with ``minibatch_kernels``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..errors import GanforgeError
from ..losses.improved import ParameterAverage, feature_matching_loss, historical_average_penalty
from .base import FAMILIES, Batch
from .gan import GAN


@FAMILIES.register("improved-gan")
class ImprovedGAN(GAN):
    """GAN with feature matching for G and historical averaging of both players (Salimans et al. 2016)."""

    @dataclass
    class Args:
        feature_matching: bool = True
        historical_averaging: float = 0.0  # weight of the penalty (0: off); the paper gives none

        def __post_init__(self) -> None:
            if not isinstance(self.feature_matching, bool):
                raise GanforgeError(f"model.options.feature_matching must be true or false, "
                                    f"got {self.feature_matching!r}")
            w = self.historical_averaging
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and w >= 0):
                raise GanforgeError(f"model.options.historical_averaging must be a number >= 0, got {w!r}")

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        if self.args.feature_matching and not self.D.has_features:
            raise GanforgeError(f"model.options.feature_matching needs a discriminator with a feature layer; "
                                f"{cfg.discriminator['name']!r} has none")
        self.averages: Optional[nn.ModuleDict] = None
        if self.args.historical_averaging > 0:
            self.averages = nn.ModuleDict({name: ParameterAverage(net) for name, net in self.trainable().items()})

    def g_adversarial_loss(self, fake: torch.Tensor, labels: Optional[torch.Tensor],
                           batch: Batch) -> tuple[torch.Tensor, object]:
        if not self.args.feature_matching:
            return super().g_adversarial_loss(fake, labels, batch)
        with self.autocast():
            with torch.no_grad():
                real_features = self.D.hidden_features(self._noisy(batch.images))  # (N, F)
            fake_features = self.D.hidden_features(self._noisy(fake))  # (N, F)
        return feature_matching_loss(real_features, fake_features), None

    def regularise(self, name: str, loss: torch.Tensor, stats: dict) -> torch.Tensor:
        if self.averages is None:
            return loss
        net, average = self.trainable()[name], self.averages[name]
        average.update(net)
        penalty = historical_average_penalty(average.params(net), average.means(), self.args.historical_averaging)
        stats[f"hist_avg_{name}"] = penalty.detach()
        return loss + penalty
