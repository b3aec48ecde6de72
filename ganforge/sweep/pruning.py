"""Early stopping of poor trials: the pruner registry (``--pruner``) and the evaluation callback that
reports each trial's intermediate score to Optuna.

:class:`IntermediateScores` wraps the ``eval_every`` callback the Trainer is handed (by default
:class:`~ganforge.evaluation.ClassifierMetrics`): at every evaluation point it reports the Frechet distance
of classifier logits, ``fd_logits``, with ``trial.report(value, step)`` and stops the run with
``optuna.TrialPruned`` when ``trial.should_prune()`` says so. ``median`` is Optuna's ``MedianPruner``
(prune when the trial's best score so far is worse than the median of earlier trials at the same step);
``none`` never prunes. A score that is not finite ends the trial as diverged.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from ..errors import TrainingDiverged
from ..registry import Registry
from ._optuna import require_optuna
from .options import SweepOptions

PRUNERS: Registry[Callable[[SweepOptions], object]] = Registry("pruner")
INTERMEDIATE = "fd_logits"  # ClassifierMetrics' Frechet distance of logits: lower is better, like FID


@PRUNERS.register("median")
def median_pruner(options: SweepOptions):
    return require_optuna().pruners.MedianPruner(n_startup_trials=options.pruner_startup_trials,
                                                 n_warmup_steps=options.pruner_warmup_steps)


@PRUNERS.register("none")
def no_pruner(options: SweepOptions):
    return require_optuna().pruners.NopPruner()


Scorer = Callable[[torch.Tensor, Optional[torch.Tensor]], dict]


class IntermediateScores:
    """The Trainer's evaluator for one trial: ``scorer``'s metrics, with ``fd_logits`` reported to the
    trial at the training step ``step_of()`` returns (set once the Trainer exists)."""

    def __init__(self, trial, scorer: Scorer, metric: str = INTERMEDIATE) -> None:
        self.trial = trial
        self.scorer = scorer
        self.metric = metric
        self.step_of: Callable[[], int] = lambda: 0

    def __call__(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> dict:
        values = self.scorer(images, labels)
        score, step = float(values[self.metric]), int(self.step_of())
        if not math.isfinite(score):
            raise TrainingDiverged(f"{self.metric} is {score} at step {step}")
        self.trial.report(score, step)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at", {"step": step, self.metric: score})
            raise require_optuna().TrialPruned(f"{self.metric} {score:.4g} at step {step}")
        return values
