"""Hyperparameter sweeps on Optuna: ``ganforge sweep PRESET --trials N --out DIR`` and ``ganforge sweep
report``, after Lucic et al. 2018 (*Are GANs Created Equal? A Large-Scale Study*), whose large-scale
evaluation trains every model with hyperparameters drawn at random from wide ranges and compares the
distributions of FID and the best FID reached for a given budget.

=============  ===========================================================================================
module         job
=============  ===========================================================================================
``options``    the typed options of a worker (:class:`SweepOptions`) and of the report
``spaces``     search spaces (registry ``SPACES``; ``lucic``: Lucic et al.'s wide ranges)
``sampler``    random search seeded per (seed, trial number, parameter), so workers never repeat
``storage``    Optuna RDB storage on any SQLAlchemy URL (SQLite, PostgreSQL), heartbeats, retries
``pruning``    pruners (registry ``PRUNERS``) and the ``eval_every`` callback reporting ``fd_logits``
``objective``  one trial: config, training (or resuming), final FID, user attributes
``worker``     the loop that brings the study to N finished trials with any number of workers
``report``     the box/strip and best-so-far figure and the JSON summary
=============  ===========================================================================================

Optuna (https://optuna.org: studies, trials, RDB storage, heartbeats, pruners) is imported only when a
sweep runs, so the rest of ganforge works without it; without it ``ganforge sweep`` says so in one line.
"""
from __future__ import annotations

from .options import ReportOptions, SweepOptions
from .spaces import SPACES


def run_sweep(options: SweepOptions, **kwargs) -> dict:
    """Run this process as one worker of the study (see :mod:`.worker`)."""
    from ._optuna import require_optuna

    require_optuna()
    from .worker import run_sweep as run

    return run(options, **kwargs)


def write_report(options: ReportOptions):
    """Write the sweep report's PNG and JSON summary (see :mod:`.report`)."""
    from ._optuna import require_optuna

    require_optuna()
    from .report import write_report as write

    return write(options)


__all__ = ["ReportOptions", "SweepOptions", "SPACES", "run_sweep", "write_report"]
