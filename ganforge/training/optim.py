"""Optimiser registry and the per-step learning-rate / momentum schedule.

The schedule is a pure function of the step and the run's length (a registered learning-rate schedule,
:data:`SCHEDULES`: Goodfellow et al. 2014's exponential decay with a floor, or CycleGAN's constant-then-linear
decay; and pylearn2's linear momentum ramp), applied to the optimiser's param groups before every update, so a
resumed run needs no scheduler state to continue exactly (as long as ``steps`` is the same: the linear
schedule's decay is laid out over the run's ``steps``).
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


Schedule = Callable[[OptimConfig, int, int], float]
#: learning-rate schedules by name: ``fn(cfg, step, total_steps) -> lr`` for the update at 0-based ``step``
SCHEDULES: Registry[Schedule] = Registry("learning-rate schedule")


@SCHEDULES.register("exponential")
def scheduled_lr(cfg: OptimConfig, step: int, total: int = 0) -> float:
    """lr_t = max(lr / lr_decay**t, lr_min) (Goodfellow et al. 2014: decay 1.000004, floor 1e-6); constant
    for ``lr_decay`` 1 (the default)."""
    if cfg.lr_decay == 1.0:
        return cfg.lr
    return max(cfg.lr / cfg.lr_decay ** step, cfg.lr_min)


@SCHEDULES.register("linear")
def linear_decay_lr(cfg: OptimConfig, step: int, total: int) -> float:
    """Constant ``lr`` for the first H = round(lr_hold * total) updates, then a linear decay towards ``lr_min``:
    lr_t = lr_min + (lr - lr_min) * min(1, (total - t) / (total - H + 1)) for the update at 0-based step t.

    Zhu et al. 2017 ("Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
    section 7.1): "We keep the same learning rate for the first 100 epochs and linearly decay the rate to zero
    over the next 100 epochs". Counted in steps rather than epochs; as in the authors' code (its ``linear``
    policy divides by the decay length plus one) the last update still moves, with lr / (total - H + 1), and
    the rate reaches zero at t = total."""
    hold = round(cfg.lr_hold * total)
    factor = min(1.0, (total - step) / (total - hold + 1))
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * max(0.0, factor)


def check_schedule(cfg: OptimConfig) -> Schedule:
    """The registered schedule ``cfg.lr_schedule`` (an unknown name is a one-line error)."""
    return SCHEDULES.get(cfg.lr_schedule)


def scheduled_momentum(cfg: OptimConfig, epoch: float) -> float:
    """Momentum ramped linearly from ``momentum`` to ``momentum_final`` over ``momentum_ramp_epochs``."""
    if cfg.momentum_final is None or cfg.momentum_ramp_epochs <= 0:
        return cfg.momentum
    frac = min(1.0, epoch / cfg.momentum_ramp_epochs)
    return cfg.momentum + (cfg.momentum_final - cfg.momentum) * frac


def apply_schedule(opt: torch.optim.Optimizer, cfg: OptimConfig, step: int, epoch: float, total: int = 0) -> float:
    """Set the lr of the update at ``step`` of a run of ``total`` steps (and momentum where the optimiser has
    one); returns the lr."""
    lr = check_schedule(cfg)(cfg, step, total)
    momentum = scheduled_momentum(cfg, epoch)
    for group in opt.param_groups:
        group["lr"] = lr
        if "momentum" in group:
            group["momentum"] = momentum
    return lr
