"""The Python entry points the CLI is a thin layer over: ``train`` and ``load``.

    import ganforge
    run = ganforge.train("lucic-ns", "runs/ns", steps=3000, precision="bf16")
    model = ganforge.load(run)
    images = model.sample(64, seed=0)        # uint8 (64, 1, 28, 28)

``train`` is where training meets evaluation: it hands the :class:`~ganforge.training.loop.Trainer` the
evaluation callback for ``eval_every`` (the loop itself imports nothing above training).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import RunConfig, reference_data, resolve_config
from .errors import GanforgeError
from .runs import RunDir
from .training.trained import TrainedModel, load


def resolve_run_config(preset: str, out: str | Path, resume: bool, overrides: dict[str, Any]) -> RunConfig:
    """The config a ``train`` call would use: the preset's, or on resume the run's own, plus overrides."""
    if not resume:
        return resolve_config(preset, overrides)
    saved = RunDir(out).read_config()
    if saved.get("preset") != preset:
        raise GanforgeError(f"--resume: {out} was trained with preset {saved.get('preset')!r}, not {preset!r}")
    return resolve_config(preset, overrides, base=saved)


def train(preset: str, out: str | Path, resume: bool = False, **overrides: Any) -> Path:
    """Train ``preset`` into run directory ``out`` (what ``ganforge train`` runs); returns ``out``."""
    from .evaluation.during_training import ClassifierMetrics
    from .training.loop import Trainer

    cfg = resolve_run_config(preset, out, resume, overrides)
    evaluator = ClassifierMetrics(reference_data(cfg), cfg.data_root) if cfg.eval_every else None
    return Trainer(cfg, out, resume=resume, evaluator=evaluator).fit()


__all__ = ["train", "load", "TrainedModel", "resolve_run_config"]
