"""A sweep worker: ``ganforge sweep PRESET --trials N --out DIR`` (any number of them, on any machines that
share the storage and, for resuming, the run directories).

Every worker loops until the study holds ``N`` finished (complete or pruned) trials, whoever ran them:

- fewer than ``N`` trials are finished, running or queued: it runs one more (``study.optimize`` with one
  trial, which first takes a queued retry if there is one, and keeps the heartbeat during the trial);
- enough trials are running but not finished: it waits, failing stale ones (Optuna's
  ``fail_stale_trials``) so that a dead worker's trial is re-queued and taken over.

``reserve`` (in :mod:`.objective`) refuses a trial that two workers raced past the count, so the study never
gets more than ``N`` kept trials. Everything the user gave is checked before the storage is touched.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..config import resolve_config
from ..errors import GanforgeError
from ..features import FEATURES
from ..fileio import write_json
from ._optuna import quiet, require_optuna
from .objective import SurplusTrial, TrialObjective, default_scorer
from .options import SweepOptions
from .pruning import PRUNERS
from .sampler import TrialSeededSampler
from .spaces import SPACES
from .storage import check_sqlite, open_storage, open_study, shown_url

MAX_POLL = 10.0  # seconds between looks while waiting for other workers' trials
MARKER = "sweep.json"  # in --out: the study whose runs the folder holds


@dataclass
class Counts:
    finished: int
    active: int
    waiting: int


def count(study) -> Counts:
    states = require_optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False)
    of = lambda *wanted: sum(t.state in wanted for t in trials)  # noqa: E731
    return Counts(of(states.COMPLETE, states.PRUNED), of(states.RUNNING, states.WAITING), of(states.WAITING))


def check_options(options: SweepOptions) -> None:
    """One-line errors for every name the user gave, before any file or database is touched."""
    resolve_config(options.preset, options.overrides)
    SPACES.get(options.space)
    PRUNERS.get(options.pruner)
    FEATURES.get(options.features.partition(":")[0])
    require_optuna()
    check_sqlite(options.storage_url, must_exist=False)
    if options.out.exists() and not options.out.is_dir():
        raise GanforgeError(f"sweep --out {options.out} is a file (expected a folder for the trials' runs)")
    owner = folder_owner(options)
    if owner not in (None, options.study_name):  # its trial-NNNN folders would be shared by two studies
        raise GanforgeError(f"sweep --out {options.out} holds the runs of study {owner!r} (expected a folder of "
                            f"study {options.study_name!r}'s runs: choose another --out)")


def folder_owner(options: SweepOptions) -> Optional[str]:
    """The study whose runs ``--out`` holds (from its ``sweep.json``), if any."""
    try:
        owner = json.loads((options.out / MARKER).read_text()).get("study")
    except (OSError, ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) else None


def open_worker_study(options: SweepOptions):
    """The study this worker joins (created on first use), on storage with heartbeats and retries."""
    if options.storage is None:
        options.out.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
    storage = open_storage(options.storage_url, options.heartbeat, options.grace, options.max_retry)
    study = open_study(storage, options.study_name, options.protocol(), TrialSeededSampler(options.seed),
                       PRUNERS.get(options.pruner)(options))
    if folder_owner(options) is None:  # --out is this study's folder from now on
        write_json(options.out / MARKER, {"study": options.study_name, "storage": shown_url(options.storage_url)})
    return study


def run_sweep(options: SweepOptions, scorer_factory=default_scorer,
              on_trial: Optional[Callable[[object], None]] = None) -> dict:
    """Work on the study until it has ``options.trials`` finished trials; returns the study's counts."""
    check_options(options)
    study = open_worker_study(options)
    objective = TrialObjective(options, scorer_factory)
    callbacks = [lambda study, trial: on_trial(trial)] if on_trial else []
    poll = min(MAX_POLL, float(options.heartbeat))
    with quiet():
        while (c := count(study)).finished < options.trials:
            if c.finished + c.active < options.trials or c.waiting:
                study.optimize(objective, n_trials=1, catch=(SurplusTrial,), callbacks=callbacks,
                               gc_after_trial=False)
                continue
            time.sleep(poll)
            require_optuna().storages.fail_stale_trials(study)
    c = count(study)
    return {"study": study.study_name, "storage": shown_url(options.storage_url), "finished": c.finished}
