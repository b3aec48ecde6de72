"""The adversarial-loss registry.

A loss is a small class whose two methods wrap pure functions on discriminator outputs:
``d_loss(real_out, fake_out)`` is minimised by the discriminator and ``g_loss(fake_out)`` by the
generator. Both return scalar tensors (batch means). Hyperparameters live in a nested ``Args``
dataclass, checked against config like the networks' (see ``ganforge.nets.base.make_args``).
Regularisers that need the networks themselves (gradient penalties) are a separate registry that the
model family adds on top; they arrive with the other loss families.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import torch

from ..registry import Registry


class AdversarialLoss(abc.ABC):
    """Base class of registered adversarial losses."""

    @dataclass
    class Args:
        pass

    def __init__(self, args: "AdversarialLoss.Args | None" = None) -> None:
        self.args = args if args is not None else self.Args()

    #: True when D outputs are logits of "real" (logged as sigmoid means); False for critics (raw means).
    outputs_are_logits: bool = True

    def penalty(self, d_net: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """An extra discriminator term that needs the network (gradient penalties); default none."""
        return None

    def after_d_step(self, d_net: torch.nn.Module) -> None:
        """Called after each discriminator update (WGAN's weight clipping); default nothing."""

    @abc.abstractmethod
    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss (a scalar batch mean)."""

    @abc.abstractmethod
    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        """The generator's loss (a scalar batch mean)."""


class FunctionLoss(AdversarialLoss):
    """A loss given by two pure functions: subclasses set ``d_fn`` and ``g_fn`` (as staticmethods)."""

    d_fn = staticmethod(lambda real_out, fake_out: None)
    g_fn = staticmethod(lambda fake_out: None)

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return self.d_fn(real_out, fake_out)

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return self.g_fn(fake_out)


LOSSES: Registry[type[AdversarialLoss]] = Registry("loss", base=AdversarialLoss)
