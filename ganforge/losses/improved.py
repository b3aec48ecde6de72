"""Two techniques of Salimans et al. 2016, "Improved Techniques for Training GANs", as pure functions.

- Feature matching (section 3.1): G minimises ||E_x f(x) - E_z f(G(z))||_2^2, f an intermediate layer of D,
  the expectations estimated by batch means. openai/improved-gan averages the squared (MNIST) or absolute
  (CIFAR-10) differences over the units instead of summing squares; this is the paper's norm.
- Historical averaging (section 3.3): each player's cost gains ||theta - (1/t) sum_{i=1..t} theta[i]||^2,
  theta[i] the player's parameters at past time i. :class:`ParameterAverage` keeps that running mean (buffers,
  so checkpoints and resume carry it); the penalty is scaled by a weight the paper leaves open.

One-sided label smoothing (section 3.4) is ``model.label_smoothing`` (``ganforge.losses.heuristics``), and
minibatch discrimination (section 3.2) a discriminator layer (``ganforge.nets.minibatch``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """||mean_i f(x_i) - mean_j f(G(z_j))||_2^2 for features (N, F) and (M, F) (Salimans et al. 2016, sec. 3.1)."""
    diff = real_features.float().mean(dim=0) - fake_features.float().mean(dim=0)  # (F,)
    return diff.pow(2).sum()


def historical_average_penalty(params: Sequence[torch.Tensor], means: Sequence[torch.Tensor],
                               weight: float) -> torch.Tensor:
    """weight * sum_k ||theta_k - mean_k||^2 over a player's parameters (Salimans et al. 2016, section 3.3);
    the means are constants (no gradient flows into them)."""
    total = sum((p.float() - m.detach().float()).pow(2).sum() for p, m in zip(params, means))
    return weight * total


class ParameterAverage(nn.Module):
    """The running mean (1/t) sum_{i=1..t} theta[i] of a network's trainable parameters, as buffers.

    :meth:`update` adds the network's current parameters as theta[t] (call it once per update of that
    network, before its cost is computed, so at the first update the mean is theta itself and the penalty 0).
    The network itself is not held (it is passed in), so its weights are not saved twice.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.names = [name for name, p in net.named_parameters() if p.requires_grad]
        for i, name in enumerate(self.names):
            self.register_buffer(f"mean_{i}", torch.zeros_like(dict(net.named_parameters())[name]).detach())
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def params(self, net: nn.Module) -> list[torch.Tensor]:
        named = dict(net.named_parameters())
        return [named[name] for name in self.names]

    def means(self) -> list[torch.Tensor]:
        return [getattr(self, f"mean_{i}") for i in range(len(self.names))]

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.count += 1
        t = float(self.count)
        for mean, p in zip(self.means(), self.params(net)):
            mean.add_((p.detach().to(mean.dtype) - mean) / t)
