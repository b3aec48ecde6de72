"""The baseline of a metric over training: the same metric of real training images against the same reference.

A curve of FID (or Parzen, DDM, ...) over training steps means little without the value real data reaches:
the thesis draws it as a line under its DDM curve (Basart 2017, Fig. 3.6: DDM over time with the training
set's own DDM against the test set). Here it is ``score(reference, training data, [metric])`` with the run's
reference, ``n``, ``seed`` and features, computed once per (metric, reference, training data, n, seed,
features, version) and kept in ``RUN/eval/baseline.json``; :mod:`.history` copies each line into the
protocol of the records it belongs to (``protocol["baseline"][metric]``), where the report reads it.

Likelihood metrics (``ais``, ``iwae``) score a model, not a set of images, paired metrics (``l1``,
``psnr``, ``ssim``) need each output's target and ``cycle`` each output's reconstruction: none has a baseline.
An unpaired run's (CycleGAN) training images are those of its ``data_target``.
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..config import reference_data
from ..fileio import write_json
from ..runs import RunDir
from .likelihood import MODEL_METRICS
from .registry import METRICS
from .scoring import score

BASELINE_FILE = "baseline.json"


def has_baseline(metric: str) -> bool:
    """Whether real training images can be scored by ``metric`` like samples (not a likelihood, paired or
    source-comparing one)."""
    spec = METRICS.get(metric) if metric not in MODEL_METRICS else None
    return spec is not None and not (spec.needs_pairs or spec.needs_cycles or spec.needs_sources)


def baseline_key(run: str | Path, metric: str, reference: str, n: int, seed: int, features: str | None) -> dict:
    """Everything a baseline depends on: the metric on its features, the reference, the run's training data
    (as its config names it), ``n`` images per side, the seed and the ganforge version."""
    train = reference_data(RunDir(run).read_config())  # CycleGAN's data_target: what its translations resemble
    return {"metric": metric, "features": features or METRICS.get(metric).features, "reference": reference,
            "images": train, "n": n, "seed": seed, "ganforge_version": __version__}


def _stored(path: Path) -> list[dict]:
    """The baselines kept in ``path`` (an unreadable or foreign file counts as none and is rewritten)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return []
    entries = data.get("baselines") if isinstance(data, dict) else None
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("key"), dict)] if isinstance(
        entries, list) else []


def baselines(run: str | Path, metrics: list[str], reference: str, n: int = 10_000, seed: int = 0,
              features: str | None = None) -> dict[str, dict]:
    """metric -> ``{"key", "values", "protocol"}``: each metric of ``metrics`` that has a baseline, scored on the
    run's training images against ``reference``; from ``RUN/eval/baseline.json`` when it was scored before,
    else computed and added there (atomically, one metric at a time, so an interrupted call keeps what it
    finished)."""
    path = Path(run) / "eval" / BASELINE_FILE
    stored = _stored(path)
    data_root = RunDir(run).read_config().get("data_root")
    lines = {}
    for metric in filter(has_baseline, metrics):
        key = baseline_key(run, metric, reference, n, seed, features)
        entry = next((e for e in stored if e["key"] == key), None)
        if entry is None:
            values = score(reference, key["images"], [metric], features, n, seed, data_root)
            entry = {"key": key, "protocol": values.pop("protocol"), "values": values}
            stored.append(entry)
            write_json(path, {"baselines": stored})
        lines[metric] = entry
    return lines
