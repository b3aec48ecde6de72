"""Minibatch discrimination: Salimans et al. 2016, "Improved Techniques for Training GANs", section 3.2.

For features f(x_i) in R^A of the n images of a batch and a learned tensor T in R^(A x B x C):

    M_i = f(x_i) T                                  in R^(B x C)
    c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_L1)      for each of the B kernels
    o(x_i)_b = sum_{j=1..n} c_b(x_i, x_j)            o(x_i) in R^B

and the next layer sees [f(x_i), o(x_i)] in R^(A + B). The sum runs over the whole batch, x_i itself
included, as the paper writes it (its term is exp(0) = 1 for every b, a constant; openai/improved-gan's
``MinibatchLayer`` leaves it out and adds a learned bias instead, which the linear unit after it covers).
T is initialised N(0, 0.05) as in that code (without its weight normalisation). Written by hand: torch has no
such layer.
"""
from __future__ import annotations

import torch
from torch import nn


def minibatch_features(m: torch.Tensor) -> torch.Tensor:
    """o(x_i)_b = sum_j exp(-||M_i,b - M_j,b||_1) for M (n, B, C) -> (n, B) (Salimans et al. 2016, section 3.2)."""
    l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # (n, n, B): ||M_i,b - M_j,b||_1 at [i, j, b]
    return torch.exp(-l1).sum(dim=1)  # (n, B)


class MinibatchDiscrimination(nn.Module):
    """[f, o(f)]: features (n, A) -> (n, A + B), with the learned tensor T of shape (A, B, C)."""

    def __init__(self, in_features: int, kernels: int, dims: int) -> None:
        super().__init__()
        self.T = nn.Parameter(torch.randn(in_features, kernels, dims) * 0.05)  # (A, B, C)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = torch.einsum("na,abc->nbc", f, self.T.to(f.dtype))  # (n, B, C)
        return torch.cat([f, minibatch_features(m)], dim=1)  # (n, A + B)

    def extra_repr(self) -> str:
        a, b, c = self.T.shape
        return f"A={a}, B={b}, C={c}"


class MinibatchHead(nn.Module):
    """A discriminator's last layer with minibatch discrimination: feature map (n, ...) -> flatten (n, A)
    -> [f, o(f)] (n, A + B) -> linear -> logit (n, 1)."""

    def __init__(self, in_features: int, kernels: int, dims: int) -> None:
        super().__init__()
        self.minibatch = MinibatchDiscrimination(in_features, kernels, dims)
        self.linear = nn.Linear(in_features + kernels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(self.minibatch(h.flatten(1)))  # (n, 1)
