"""Batch normalisation with the statistics of the whole global batch under DDP (``sync_bn=true``).

Without it each process's BatchNorm layers normalise with the mean and variance of that process's own
batch_size/world images (Ioffe and Szegedy 2015, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", computed per process). ``torch.nn.SyncBatchNorm`` fixes that on GPUs only:
in torch 2.14 DistributedDataParallel refuses it for CPU modules ("SyncBatchNorm layers only work with GPU
modules") and its forward raises for CPU tensors. So on CUDA the trainer uses torch's layer, and on other
devices :class:`AllReduceBatchNorm`, hand-written here because torch has no CPU equivalent: the per-channel
sums are all-reduced with an all-reduce that autograd differentiates, so forward and backward compute what
one process would with the global batch (up to float rounding), at the cost of two small all-reduces per
layer in every training forward and backward.

Both keep BatchNorm's parameters, buffers and state_dict keys, so checkpoints load into plain BatchNorm
(a single process, ``ganforge sample``) and back.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) for autograd: every rank uses the sum, so its gradient is the sum of every rank's."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad)


class AllReduceBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) inputs whose training-mode statistics are those of all ranks' batches together.

    In eval mode, or when no process group of several ranks is running, it is plain BatchNorm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]  # every axis but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # (1, C, 1, ...) to broadcast per-channel values
        xf = x.float()  # statistics in fp32 also under bf16 autocast
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float32, device=x.device)
        sums = _SumOverRanks.apply(torch.cat([xf.sum(dims), count]))  # (C + 1,): global sums and count
        n = sums[-1]
        mean = sums[:-1] / n  # (C,)
        centred = xf - mean.view(shape)
        var = _SumOverRanks.apply(centred.square().sum(dims)) / n  # (C,) biased, as BatchNorm normalises
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), float(n))
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        """BatchNorm's update: momentum (or a cumulative average if None), unbiased variance."""
        self.num_batches_tracked.add_(1)
        factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_((var * n / max(n - 1.0, 1.0)).to(self.running_var.dtype), factor)


def _to_all_reduce(bn: _BatchNorm) -> AllReduceBatchNorm:
    """An AllReduceBatchNorm sharing ``bn``'s parameters and buffers (optimisers built on them stay valid)."""
    new = AllReduceBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    if bn.affine:
        new.weight, new.bias = bn.weight, bn.bias
    new.running_mean, new.running_var = bn.running_mean, bn.running_var
    new.num_batches_tracked = bn.num_batches_tracked
    new.train(bn.training)
    return new


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> None:
    """Replace, in place, every BatchNorm layer inside ``module`` by one normalising over all ranks: torch's
    SyncBatchNorm on CUDA, :class:`AllReduceBatchNorm` on other devices."""
    for name, child in module.named_children():
        if device.type == "cuda":
            module.add_module(name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        elif isinstance(child, _BatchNorm) and not isinstance(child, (AllReduceBatchNorm, nn.SyncBatchNorm)):
            module.add_module(name, _to_all_reduce(child))
        else:
            convert_sync_batchnorm(child, device)
