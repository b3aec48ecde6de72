"""Spectral normalisation (Miyato, Kataoka, Koyama and Yoshida 2018, "Spectral Normalization for Generative
Adversarial Networks", section 2.1 and Algorithm 1) that scales a layer's output instead of its weight.

A layer y = W x + b becomes y = W x / sigma(W) + b, with sigma(W) the largest singular value of W reshaped to
a matrix (out, in * k * k; a transposed convolution's out channels are its dim 1), estimated as u^T W v after
one power iteration per training forward (Algorithm 1: u <- W v / ||W v||, v <- W^T u / ||W^T u||, in place,
without gradient; 15 iterations from random unit vectors when the layer is set up). Gradients flow through
sigma into W as in the paper. In eval mode u and v stay fixed.

Why not torch's ``torch.nn.utils.parametrizations.spectral_norm``: it computes the same function but
materialises W / sigma on every forward and differentiates through that division, five or so passes over the
weight per forward and backward. For the Lucic et al. discriminator, whose 6,272 x 1,024 dense layer holds
95% of its weights and is called three times a training step, those passes took 45% of a ``fashion-fast``
step on 2 CPU cores (``benchmarks/spectral_norm.py``: 0.238 s/step against 0.131 without normalisation);
dividing the (batch, 1,024) output instead leaves the power iteration and sigma's gradient (0.165 s/step). Parameter names stay the layer's own (``weight``, ``bias``); u and v are the buffers
``sn_u`` and ``sn_v``.
"""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch import nn

SN_EPS = 1e-12
WARMUP_ITERATIONS = 15


def weight_matrix(layer: nn.Module) -> torch.Tensor:
    """The layer's weight as the matrix whose top singular value is normalised: (out, rest)."""
    w = layer.weight
    if isinstance(layer, nn.ConvTranspose2d):  # (in, out, k, k): out channels first
        w = w.transpose(0, 1)
    return w.flatten(1)


@torch.no_grad()
def power_iteration(layer: nn.Module, iterations: int) -> None:
    """Algorithm 1's update of u (out,) and v (rest,), in place so DDP's broadcast buffers see it; u first (from
    v), then v, in the order of torch's implementation (the paper's lists v first; at the fixed point it is the
    same)."""
    w = weight_matrix(layer)
    for _ in range(iterations):
        layer.sn_u.copy_(F.normalize(w @ layer.sn_v, dim=0, eps=SN_EPS))
        layer.sn_v.copy_(F.normalize(w.t() @ layer.sn_u, dim=0, eps=SN_EPS))


def sigma(layer: nn.Module) -> torch.Tensor:
    """u^T W v (a 0-d tensor with gradient to W), after one power iteration when the layer trains."""
    if layer.training:
        power_iteration(layer, 1)
    u, v = layer.sn_u.clone(), layer.sn_v.clone()  # the in-place update must not touch saved tensors
    return torch.dot(u, weight_matrix(layer) @ v)


def _plain(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """W x without the bias, by layer type."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, layer.weight)  # (N, out)
    if isinstance(layer, nn.ConvTranspose2d):
        return F.conv_transpose2d(x, layer.weight, None, layer.stride, layer.padding, layer.output_padding,
                                  layer.groups, layer.dilation)  # (N, out, H', W')
    return layer._conv_forward(x, layer.weight, None)  # Conv2d: (N, out, H', W')


def _normalised_forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = _plain(layer, x) / sigma(layer)
    if layer.bias is None:
        return out
    return out + layer.bias.view(1, -1, *([1] * (out.dim() - 2)))


def spectral_normalise(layer: nn.Module) -> nn.Module:
    """Make ``layer`` (Linear, Conv2d or ConvTranspose2d) compute W x / sigma(W) + b; returns it."""
    if not isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        raise TypeError(f"spectral normalisation needs a Linear, Conv2d or ConvTranspose2d layer, got "
                        f"{type(layer).__name__}")
    w = weight_matrix(layer).detach()
    layer.register_buffer("sn_u", F.normalize(torch.randn(w.shape[0], dtype=w.dtype, device=w.device), dim=0,
                                              eps=SN_EPS))
    layer.register_buffer("sn_v", F.normalize(torch.randn(w.shape[1], dtype=w.dtype, device=w.device), dim=0,
                                              eps=SN_EPS))
    power_iteration(layer, WARMUP_ITERATIONS)
    layer.forward = types.MethodType(_normalised_forward, layer)
    return layer
