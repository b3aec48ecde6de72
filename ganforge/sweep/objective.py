"""One trial: train the preset with the sampled hyperparameters into ``OUT/trial-NNNN``, report
intermediate scores for pruning, and return the FID of the trained run (the objective, minimised).

The config goes through ganforge's own resolution (preset, then the user's ``KEY=VALUE`` overrides, then
the sampled values, then validation), so the run directory's ``config.json`` holds exactly what trained.
A trial that was re-queued after its worker died (see :mod:`.storage`) finds the checkpoints of its first
attempt in the same run directory and resumes from the latest one rather than starting again. A run that
diverges (a loss or score that is not finite) ends as a complete trial with the value ``inf`` and the
message under the user attribute ``diverged``; the worker goes on with the next trial.

User attributes of every trial: ``run_name``/``run_dir``, ``model`` (the loss, or the family for BEGAN
and the VAE), ``overrides`` (the sampled config keys), ``attempts`` (worker and start step of each), and
once scored ``metrics``, ``protocol`` and ``eval_record`` (as ``ganforge eval`` writes them).
"""
from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import Callable

from ..config import RunConfig, reference_data, resolve_config
from ..errors import GanforgeError, TrainingDiverged
from ..evaluation import ClassifierMetrics, evaluate_run
from ..runs import RunDir
from ..training.loop import Trainer
from ._optuna import require_optuna
from .options import SweepOptions
from .pruning import IntermediateScores, Scorer
from .spaces import SPACES, model_label

EVAL_POINTS = 10  # evaluation points per run for pruning when the config sets no eval_every


class SurplusTrial(Exception):
    """The study already had its number of trials when this one was asked for (another worker was faster)."""


def default_scorer(cfg: RunConfig) -> Scorer:
    """The intermediate scores: classifier metrics against the test split of the run's data (its
    ``data_target``, for an unpaired model)."""
    return ClassifierMetrics(reference_data(cfg), cfg.data_root)


def reporting_overrides(cfg: RunConfig) -> dict:
    """``eval_every`` for a config without one, so the pruner sees ``EVAL_POINTS`` scores per run."""
    return {} if cfg.eval_every else {"eval_every": max(1, cfg.steps // EVAL_POINTS)}


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def reserve(trial, trials: int) -> None:
    """Refuse ``trial`` when ``trials`` trials that are not failed already precede it in the study.

    Trial numbers are handed out by the storage in order, and a trial only ever leaves the not-failed set
    (by failing), so keeping the trials with fewer than ``trials`` not-failed predecessors keeps at most
    ``trials`` of them, however many workers ask at once.
    """
    states = require_optuna().trial.TrialState
    alive = (states.COMPLETE, states.PRUNED, states.RUNNING, states.WAITING)
    before = sum(t.number < trial.number for t in trial.study.get_trials(deepcopy=False, states=alive))
    if before >= trials:
        trial.set_user_attr("surplus", True)
        raise SurplusTrial(f"trial {trial.number}: the study already has {trials} trials")


def resume_step(run: Path, retry: bool) -> int:
    """The step a trial's run continues from: its latest checkpoint for a retry, 0 for a new trial (whose
    folder must not hold another run's checkpoints: resuming them would score someone else's training)."""
    checkpoints = RunDir(run).checkpoints()
    if checkpoints and not retry:
        raise GanforgeError(f"{run} already holds a run that is not this trial's (a sweep folder reused with a "
                            f"new storage?); choose another --out")
    return checkpoints[-1][0] if checkpoints else 0


class TrialObjective:
    """``objective(trial) -> FID`` for ``study.optimize``; ``scorer_factory`` builds the intermediate scorer."""

    def __init__(self, options: SweepOptions, scorer_factory: Callable[[RunConfig], Scorer] = default_scorer) -> None:
        self.options = options
        self.scorer_factory = scorer_factory

    def __call__(self, trial) -> float:
        reserve(trial, self.options.trials)
        name = trial.user_attrs.get("run_name") or f"trial-{trial.number:04d}"  # a retry keeps its first dir
        run = self.options.out / name
        cfg, sampled = self.config(trial)
        start = resume_step(run, retry=bool(trial.user_attrs.get("attempts")))
        attempts = list(trial.user_attrs.get("attempts", [])) + [{"worker": worker_id(), "start_step": start}]
        for key, value in {"run_name": name, "run_dir": str(run.resolve()), "model": model_label(cfg),
                           "overrides": sampled, "attempts": attempts}.items():
            trial.set_user_attr(key, value)
        try:
            self.train(trial, cfg, run, resume=start > 0)
            return self.final_score(trial, run)
        except TrainingDiverged as exc:
            trial.set_user_attr("diverged", str(exc))
            return math.inf

    def config(self, trial) -> tuple[RunConfig, dict]:
        """The trial's resolved config and the sampled overrides (preset + user overrides + sampled values)."""
        base = resolve_config(self.options.preset, self.options.overrides)
        sampled = SPACES.get(self.options.space)(trial, base)
        overrides = {**self.options.overrides, **reporting_overrides(base), **sampled}
        return resolve_config(self.options.preset, overrides), sampled

    def train(self, trial, cfg: RunConfig, run: Path, resume: bool) -> None:
        evaluator = IntermediateScores(trial, self.scorer_factory(cfg))
        trainer = Trainer(cfg, run, resume=resume, evaluator=evaluator)
        evaluator.step_of = lambda: trainer.step
        trainer.fit()

    def final_score(self, trial, run: Path) -> float:
        """FID of the run's last checkpoint (``ganforge eval --metrics fid``), recorded on the trial."""
        o = self.options
        result, record = evaluate_run(run, ["fid"], o.features, o.eval_n, seed=o.seed)
        metrics = {k: v for k, v in result.items() if k != "protocol"}
        for key, value in {"metrics": metrics, "protocol": result["protocol"], "eval_record": str(record)}.items():
            trial.set_user_attr(key, value)
        if not math.isfinite(metrics["fid"]):
            raise TrainingDiverged(f"the final FID is {metrics['fid']}")
        return float(metrics["fid"])
