"""InfoGAN discriminators: one shared body, a real/fake logit and a recognition head Q.

Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information Maximizing Generative
Adversarial Nets", section 5: Q is a network that shares all convolutional layers with D and adds a final fully
connected layer giving the parameters of the conditional distribution Q(c|x).
Their MNIST networks (appendix C, Table 1), which the Lucic et al. small GAN copies (``ganforge.nets.lucic``):

    body:  x -> conv 64 4x4 s2 lrelu -> (64, 14, 14) -> conv 128 4x4 s2 BN lrelu -> (128, 7, 7)
           -> fc 1024 BN lrelu -> (1024,)
    D:     body -> fc 1 -> logit
    Q:     body -> fc 128 BN lrelu -> fc P -> code parameters (P depends on the codes)

Why a registry of its own: a registered ``Discriminator`` (``ganforge.nets.DISCRIMINATORS``) maps images
to one logit per image. An InfoGAN discriminator returns *two* things, ``(logit (N,), q (N, P))``, from one
``forward`` (so a DistributedDataParallel or ``torch.compile`` wrapper sees both outputs), and its Q size P
comes from the model family's latent codes rather than from the data (:class:`NetShape`). So it is built by
:func:`build_info_discriminator` from :data:`INFO_DISCRIMINATORS` with that extra size, and a plain GAN
cannot pick it up by mistake.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import GanforgeError
from ..registry import Registry
from .base import Discriminator, NetShape, make_args
from .layers import init_normal_
from .lucic import _BN_EPS, LucicDiscriminator


class InfoDiscriminator(Discriminator):
    """Maps images (N, C, H, W) to ``(logit (N,), q (N, q_outputs))``.

    Subclasses keep the recognition head in ``self.q_head`` (the family trains it in both updates) and
    everything else (the shared body and the logit layer) outside it.
    """

    def __init__(self, shape: NetShape, args: Any, q_outputs: int) -> None:
        super().__init__(shape, args)
        self.q_outputs = q_outputs
        self.q_head: nn.Module = nn.Identity()


INFO_DISCRIMINATORS: Registry[type[InfoDiscriminator]] = Registry("InfoGAN discriminator", base=InfoDiscriminator)


def build_info_discriminator(spec: Mapping[str, Any], shape: NetShape, q_outputs: int) -> InfoDiscriminator:
    """Build ``model.discriminator`` (``{name: ..., option: value}``) with a Q head of ``q_outputs`` units."""
    if "name" not in spec:
        raise GanforgeError("config model.discriminator needs a 'name' "
                            f"(one of: {', '.join(INFO_DISCRIMINATORS.names())})")
    cls = INFO_DISCRIMINATORS.get(spec["name"])
    return cls(shape, make_args(cls, {k: v for k, v in spec.items() if k != "name"}), q_outputs)


@INFO_DISCRIMINATORS.register("infogan-d")
class InfoGANDiscriminator(InfoDiscriminator):
    """Chen et al. 2016 MNIST D/Q (appendix C, Table 1) = ``lucic-d`` (same layers, same initialisation)
    split before its last layer, plus Q: fc ``q_hidden`` BN lrelu(0.2) -> fc ``q_outputs``."""

    @dataclass
    class Args:
        batchnorm: bool = True
        q_hidden: int = 128

    def __init__(self, shape: NetShape, args: "InfoGANDiscriminator.Args", q_outputs: int) -> None:
        super().__init__(shape, args, q_outputs)
        if q_outputs < 1 or args.q_hidden < 1:
            raise GanforgeError(f"infogan-d needs q_hidden >= 1 and at least one code output "
                                f"(got q_hidden={args.q_hidden}, outputs={q_outputs})")
        lucic = LucicDiscriminator(shape, LucicDiscriminator.Args(batchnorm=args.batchnorm))
        self.body = lucic.net[:-1]  # (N, 1024)
        self.logit = lucic.net[-1]  # (N, 1)
        self.q_head = nn.Sequential(
            nn.Linear(1024, args.q_hidden),  # (N, q_hidden)
            nn.BatchNorm1d(args.q_hidden, eps=_BN_EPS) if args.batchnorm else nn.Identity(),
            nn.LeakyReLU(0.2),
            nn.Linear(args.q_hidden, q_outputs),  # (N, q_outputs)
        )
        init_normal_(self.q_head, 0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)  # (N, 1024)
        return self.logit(h).view(-1), self.q_head(h)  # (N,), (N, q_outputs)
