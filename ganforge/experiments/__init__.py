"""Controlled experiments on a metric's behaviour: ``ganforge experiment NAME DATASET --out DIR``.

Each experiment is a registered function ``(ExperimentOptions) -> dict`` (a JSON-ready record with its
``protocol``) plus the plot it draws; this module writes ``DIR/NAME.json`` and ``DIR/NAME.png``
atomically. Every module of this package is imported, so a new experiment is one new file.
"""
from __future__ import annotations

from dataclasses import dataclass
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
    n: int = 2000
    seed: int = 0
    data_root: Optional[str] = None


EXPERIMENTS: Registry[Callable[[ExperimentOptions], dict]] = Registry("experiment")


def run_experiment(name: str, options: ExperimentOptions) -> dict:
    """Run experiment ``name``; the experiment writes its JSON record and plot under ``options.out``
    (created by those atomic writes, so a refused input leaves no empty folder behind)."""
    run = EXPERIMENTS.get(name)
    options.out = Path(options.out)
    if options.out.exists() and not options.out.is_dir():
        raise GanforgeError(f"--out {options.out} is a file (expected a folder for {name}.json and {name}.png)")
    return run(options)


import_submodules(__name__, __path__)

__all__ = ["EXPERIMENTS", "ExperimentOptions", "run_experiment"]
