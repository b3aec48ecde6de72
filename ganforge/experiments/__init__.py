"""Controlled experiments on a metric's behaviour: ``ganforge experiment NAME DATASET --out DIR``.

Each experiment is a registered function ``(ExperimentOptions) -> dict`` (a JSON-ready record with its
``protocol``) plus the plot it draws, written atomically under ``DIR``. A function may say ``default_n``
(images per set, else 2,000) and ``takes_rows`` (a table experiment taking ``--rows`` and ``KEY=VALUE``
overrides; the others refuse them). Every module of this package is imported, so a new experiment is one new
file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import GanforgeError
from ..registry import Registry, import_submodules


@dataclass
class ExperimentOptions:
    dataset: str                      # a labelled dataset name, e.g. fashion-mnist
    out: Path                         # output directory
    metrics: Optional[list[str]] = None
    features: Optional[str] = None
    n: Optional[int] = None           # images per set; None: the experiment's own default
    seed: int = 0
    data_root: Optional[str] = None
    rows: Optional[list[str]] = None  # table experiments: which rows (None: all)
    overrides: dict = field(default_factory=dict)  # table experiments: KEY=VALUE for every row's config


EXPERIMENTS: Registry[Callable[[ExperimentOptions], dict]] = Registry("experiment")


def run_experiment(name: str, options: ExperimentOptions) -> dict:
    """Run experiment ``name``; the experiment writes its JSON record and plot under ``options.out``
    (created by those atomic writes, so a refused input leaves no empty folder behind)."""
    run = EXPERIMENTS.get(name)
    if (options.rows or options.overrides) and not getattr(run, "takes_rows", False):
        raise GanforgeError(f"experiment {name} takes no --rows or KEY=VALUE overrides")
    options.n = options.n if options.n is not None else getattr(run, "default_n", 2000)
    options.out = Path(options.out)
    if options.out.exists() and not options.out.is_dir():
        raise GanforgeError(f"--out {options.out} is a file (expected a folder for {name}.json and {name}.png)")
    return run(options)


import_submodules(__name__, __path__)

__all__ = ["EXPERIMENTS", "ExperimentOptions", "run_experiment"]
