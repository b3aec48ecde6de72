"""The typed options of ``ganforge sweep`` (one worker on a study) and ``ganforge sweep report``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .. import __version__
from ..errors import GanforgeError


@dataclass
class SweepOptions:
    """One worker of a study: ``trials`` is the number of finished (complete or pruned) trials the *study*
    should reach, whichever workers run them.

    ``storage`` is an SQLAlchemy URL (default ``sqlite:///OUT/sweep.db``); ``study`` defaults to the preset
    name. The final objective is FID on ``features`` of ``eval_n`` images (sampled with ``seed``, which also
    seeds the random search); intermediate scores for the pruner are the classifier metric ``fd_logits``
    logged every ``eval_every`` steps. ``heartbeat`` and ``grace_period`` (seconds) are Optuna's
    ``heartbeat_interval`` and ``grace_period``: a trial whose worker stopped beating for ``grace_period``
    is failed and re-queued, at most ``max_retry`` times, and its retry resumes the same run directory.
    """

    preset: str
    trials: int
    out: Path
    storage: Optional[str] = None
    study: Optional[str] = None
    space: str = "lucic"
    eval_n: int = 10_000
    features: str = "inception"
    seed: int = 0
    pruner: str = "median"
    pruner_startup_trials: int = 5
    pruner_warmup_steps: int = 0
    heartbeat: int = 60
    grace_period: Optional[int] = None
    max_retry: int = 3
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        checks = {"trials": self.trials >= 1, "eval_n": self.eval_n >= 1, "heartbeat": self.heartbeat >= 1,
                  "grace_period": self.grace_period is None or self.grace_period >= 1,
                  "max_retry": self.max_retry >= 0, "pruner_startup_trials": self.pruner_startup_trials >= 0,
                  "pruner_warmup_steps": self.pruner_warmup_steps >= 0}
        for name, ok in checks.items():
            if not ok:
                raise GanforgeError(f"sweep --{name.replace('_', '-')} must be a whole number of at least "
                                    f"{0 if name.startswith(('max', 'pruner')) else 1}, got {getattr(self, name)}")

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / 'sweep.db').resolve()}"

    @property
    def study_name(self) -> str:
        return self.study or self.preset

    @property
    def grace(self) -> int:
        """Optuna's default grace period: twice the heartbeat interval."""
        return self.grace_period or 2 * self.heartbeat

    def protocol(self) -> dict:
        """What defines the study's trials; every worker on a study must agree on it."""
        return {"preset": self.preset, "overrides": dict(self.overrides), "space": self.space,
                "objective": "fid", "features": self.features, "eval_n": self.eval_n, "seed": self.seed,
                "intermediate": "fd_logits", "ganforge_version": __version__}


@dataclass
class ReportOptions:
    """``ganforge sweep report``: every study in ``storage`` (or those named in ``studies``) drawn into the
    PNG ``out``, with the JSON summary beside it (same name, ``.json``)."""

    storage: str
    out: Path
    studies: Optional[list[str]] = None

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.out.suffix.lower() != ".png":
            raise GanforgeError(f"sweep report --out {self.out}: expected a .png file name "
                                f"(the JSON summary is written beside it)")

    @property
    def summary_path(self) -> Path:
        return self.out.with_suffix(".json")
