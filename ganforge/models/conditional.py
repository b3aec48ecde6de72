"""Class-conditional GAN families: cGAN (and the projection discriminator) and ACGAN.

- ``cgan``: Mirza and Osindero 2014, as used by Nair and Shah's conditional DCGAN: G(z, y) and D(x, y); real
  images are judged with their own labels, fakes with the labels they were generated for, drawn uniformly
  over the classes. Any discriminator of kind "conditional" fits: Nair and Shah's concatenating ``cdcgan-d`` or
  the projection discriminator ``projection-d`` (Miyato and Koyama 2018).
- ``acgan``: Odena et al. 2017 (Basart 2017 section 2.1). D(x) gives a real/fake logit and class logits; with
  L_S the adversarial loss and L_C the class cross-entropy on real and generated images, D minimises
  L_S + w L_C and G minimises its adversarial loss + w L_C on its own images (eq. 2-3 of the paper; w is
  ``model.options.class_weight``, 1 in the paper).

Both reuse the unconditional family's two updates (``ganforge.models.gan``) through its hooks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from .base import FAMILIES
from .gan import GAN, LogitOnly


class _WithLabels(nn.Module):
    """D(x, labels) seen as a one-argument network (for gradient penalties)."""

    def __init__(self, d: nn.Module, labels: torch.Tensor) -> None:
        super().__init__()
        self.d, self.labels = d, labels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.d(x, self.labels)


class _ConditionalGAN(GAN):
    conditional = True

    def fake_labels(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.shape.num_classes, (n,), device=device)


@FAMILIES.register("cgan")
class CGAN(_ConditionalGAN):
    """Conditional GAN: G(z, y), D(x, y) -> logit; any registered adversarial loss."""

    d_kind = "conditional"

    def discriminate(self, x, labels):
        return self.net("d")(x, labels), None

    def critic(self, labels):
        return _WithLabels(self.net("d"), labels)


@FAMILIES.register("acgan")
class ACGAN(_ConditionalGAN):
    """Auxiliary-classifier GAN (Odena et al. 2017): D(x) -> (logit, class logits)."""

    d_kind = "auxiliary"

    @dataclass
    class Args:
        class_weight: float = 1.0

    def __init__(self, cfg, shape) -> None:
        super().__init__(cfg, shape)
        if self.args.class_weight < 0:
            raise GanforgeError(f"model.options.class_weight must be >= 0, got {self.args.class_weight}")

    def discriminate(self, x, labels):
        logit, classes = self.net("d")(x)
        return logit, classes

    def aux_loss(self, extra: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """w * cross-entropy of D's class logits against the labels (L_C of Odena et al. 2017, eq. 2)."""
        return self.args.class_weight * F.cross_entropy(extra.float(), labels)

    def critic(self, labels):
        return LogitOnly(self.net("d"))

