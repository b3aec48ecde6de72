"""Optimiser registry and the per-step learning-rate / momentum schedule.

The schedule is a pure function of the step (Goodfellow et al. 2014's exponential learning-rate decay
with a floor and pylearn2's linear momentum ramp), applied to the optimiser's param groups before every
update, so a resumed run needs no scheduler state to continue exactly.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from ..config import OptimConfig
from ..registry import Registry

OptimBuilder = Callable[[Iterable[torch.nn.Parameter], OptimConfig], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimBuilder] = Registry("optimizer")


@OPTIMIZERS.register("adam")
def _adam(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    # The fused kernel (CPU and CUDA) does the whole update in one pass: on 2 CPU cores the per-tensor
    # loop of the default implementation is a quarter of a small GAN's step time.
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                            fused=True)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("sgd")
def _sgd(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def build_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(cfg.name)(params, cfg)


def scheduled_lr(cfg: OptimConfig, step: int) -> float:
    """lr_t = max(lr / lr_decay**t, lr_min) (Goodfellow et al. 2014: decay 1.000004, floor 1e-6)."""
    if cfg.lr_decay == 1.0:
        return cfg.lr
    return max(cfg.lr / cfg.lr_decay ** step, cfg.lr_min)


def scheduled_momentum(cfg: OptimConfig, epoch: float) -> float:
    """Momentum ramped linearly from ``momentum`` to ``momentum_final`` over ``momentum_ramp_epochs``."""
    if cfg.momentum_final is None or cfg.momentum_ramp_epochs <= 0:
        return cfg.momentum
    frac = min(1.0, epoch / cfg.momentum_ramp_epochs)
    return cfg.momentum + (cfg.momentum_final - cfg.momentum) * frac


def apply_schedule(opt: torch.optim.Optimizer, cfg: OptimConfig, step: int, epoch: float) -> float:
    """Set this step's lr (and momentum where the optimiser has one); returns the lr."""
    lr = scheduled_lr(cfg, step)
    momentum = scheduled_momentum(cfg, epoch)
    for group in opt.param_groups:
        group["lr"] = lr
        if "momentum" in group:
            group["momentum"] = momentum
    return lr
