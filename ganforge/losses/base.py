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

    #: True when D outputs are logits of "real" (logged as sigmoid means); False for critics and other
    #: unbounded outputs, LSGAN's and hinge's included (raw means).
    outputs_are_logits: bool = True

    @classmethod
    def takes_targets(cls) -> bool:
        """Whether soft targets for real images (label smoothing, noisy labels) mean something for this
        loss; the GAN family refuses those options for a loss without them."""
        return False

    def d_loss_targets(self, real_out: torch.Tensor, fake_out: torch.Tensor,
                       real_targets: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss when real image i has target ``real_targets[i]`` (fakes keep target 0);
        with every target 1 it equals :meth:`d_loss`. Only for losses whose :meth:`takes_targets` is True."""
        raise NotImplementedError(f"{type(self).__name__} has no soft real targets")

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
    """A loss given by pure functions: subclasses set ``d_fn`` and ``g_fn`` (as staticmethods), and
    ``targets_fn(real_out, fake_out, real_targets)`` when soft real targets have a meaning for the loss."""

    d_fn = staticmethod(lambda real_out, fake_out: None)
    g_fn = staticmethod(lambda fake_out: None)
    targets_fn = None

    @classmethod
    def takes_targets(cls) -> bool:
        return cls.targets_fn is not None

    def d_loss_targets(self, real_out: torch.Tensor, fake_out: torch.Tensor,
                       real_targets: torch.Tensor) -> torch.Tensor:
        if self.targets_fn is None:
            return super().d_loss_targets(real_out, fake_out, real_targets)
        return self.targets_fn(real_out, fake_out, real_targets)

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return self.d_fn(real_out, fake_out)

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return self.g_fn(fake_out)


LOSSES: Registry[type[AdversarialLoss]] = Registry("loss", base=AdversarialLoss)
