"""Shared plumbing of the experiments whose rows are training runs (ModNet's experiments): build a row's
protocol from a preset and the user's overrides, train or resume its run, and read a finished row back.

A row is ``OUT/ROW.json`` with ``protocol.settings``: a finished row with the same settings is read, not
recomputed; one measured with other settings is refused (another ``--out``, or delete the file); a killed
row resumes its run ``OUT/runs/ROW`` from its last checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .. import __version__
from ..config import resolve_config, to_dict
from ..errors import GanforgeError
from ..fileio import write_json
from ..runs import RunDir
from ..training.loop import Trainer
from . import ExperimentOptions
from ._common import dataset_name


def row_config(experiment: str, preset: str, options: ExperimentOptions, dataset: str, fixed: dict) -> dict:
    """The resolved config of a row: ``preset`` with the user's overrides, ``data`` = the dataset's train
    split, the seed and the experiment's ``fixed`` keys (which the user may not override)."""
    for key in ("data", *fixed):
        if key in options.overrides:
            raise GanforgeError(f"{experiment}: the experiment sets {key} itself; drop that override")
    overrides = {**options.overrides, "data": f"{dataset}:train", "seed": options.seed, **fixed}
    if options.data_root:
        overrides["data_root"] = options.data_root
    return to_dict(resolve_config(preset, overrides))


def train_row(settings: dict, run: Path) -> float:
    """Train the row's run, resuming from its last checkpoint (a finished run returns at once); its training
    wall seconds over all sessions (the loop logs them as ``time_s``)."""
    cfg = resolve_config(settings["preset"], {}, base=settings["config"])
    Trainer(cfg, run, resume=RunDir(run).latest_checkpoint() is not None).fit()
    timed = [r["time_s"] for r in RunDir(run).read_log() if "time_s" in r]
    return float(timed[-1]) if timed else float("nan")


def finished_row(experiment: str, path: Path, settings: dict) -> dict | None:
    """The row at ``path`` if it was measured with ``settings``; another protocol is refused."""
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GanforgeError(f"{path}: not a readable {experiment} row ({exc}); delete it to measure the row again")
    if not isinstance(old, dict) or old.get("protocol", {}).get("settings") != settings:
        raise GanforgeError(f"{path} was measured with another protocol; use another --out (or delete the file) "
                            f"to measure row {settings['row']} this way")
    return old


def measured_row(experiment: str, out: Path, settings: dict, measure: Callable[[Path], dict]) -> dict:
    """Row ``settings['row']``: read ``OUT/ROW.json`` if it is finished with these settings, else train (or
    resume) its run ``OUT/runs/ROW``, add ``measure(run)``'s values and write the row atomically."""
    path = Path(out) / f"{settings['row']}.json"
    old = finished_row(experiment, path, settings)
    if old is not None:
        return old
    run = Path(out) / "runs" / settings["row"]
    seconds = train_row(settings, run)
    record = {"row": settings["row"], "preset": settings["preset"], "run": str(run),
              "train_seconds": round(seconds, 1), **measure(run), "protocol": {"settings": settings, "ganforge_version": __version__}}
    write_json(path, record)
    return record


def chosen_rows(experiment: str, options: ExperimentOptions, rows, protocol_of) -> tuple[str, list[str]]:
    """(the dataset name, the rows asked for with ``--rows``, all by default, in the experiment's order).

    Refuses unknown rows, the metric options these experiments do not take, and any override a row's
    ``protocol_of(row, options, dataset)`` rejects, before hours of training."""
    dataset = dataset_name(options.dataset)
    unknown = sorted(set(options.rows or []) - set(rows))
    if unknown:
        raise GanforgeError(f"{experiment}: unknown row(s) {', '.join(unknown)} (expected some of {', '.join(rows)})")
    if options.metrics or options.features:
        raise GanforgeError(f"{experiment} computes its own measures; it takes no --metrics or --features")
    chosen = [r for r in rows if not options.rows or r in options.rows]
    for row in chosen:
        protocol_of(row, options, dataset)
    return dataset, chosen
