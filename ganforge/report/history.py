"""The report's metrics-over-training section: each ranked metric of a run's eval records drawn against the
training step, with its baseline (the same metric of real training images against the same reference, which
``ganforge eval --every-checkpoint`` puts in each record's ``protocol["baseline"]``).

This redraws Goodfellow et al. 2014, Fig. 4 (log-likelihood over training), and Basart 2017, Fig. 3.3 (Parzen
over time) and Fig. 3.6 (DDM over time with its baseline). Like the rest of the report it reads the records
only: a baseline whose values are not numbers is left out, not trusted.
"""
from __future__ import annotations

from typing import Callable

from .charts import history_curves


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_baselines(protocol: dict, label: Callable[[dict, dict], dict]) -> dict[str, dict]:
    """value label -> ``{"value", "of"}`` for each baseline in a record's protocol; ``label`` names values as
    the record's own (``fid [pixels]`` when not on the metric's default features)."""
    lines = protocol.get("baseline") if isinstance(protocol, dict) else None
    out = {}
    for line in (lines.values() if isinstance(lines, dict) else ()):
        values = line.get("values") if isinstance(line, dict) else None
        key = line.get("key") if isinstance(line, dict) and isinstance(line.get("key"), dict) else {}
        if not isinstance(values, dict):
            continue
        of = f"{key.get('n', '?')} images of {key.get('images', '?')} vs {key.get('reference', '?')}"
        numbers = {k: v for k, v in values.items() if _number(v)}
        out.update({k: {"value": v, "of": of} for k, v in label(numbers, protocol).items()})
    return out


def _series(evals: list[dict], label: str) -> dict | None:
    points = dict(sorted((e["step"], e["metrics"][label]) for e in evals
                         if label in e["metrics"] and isinstance(e["step"], int)))
    if len(points) < 2:
        return None  # one checkpoint is not a curve
    line = next((e["baseline"][label] for e in reversed(evals) if label in e.get("baseline", {})), None)
    return {"label": label, "points": points, "baseline": line["value"] if line else None,
            "baseline_of": line["of"] if line else ""}


def history_section(evals: list[dict], ranked: Callable[[str], bool]) -> dict | None:
    """The curves (base64 PNG) and their table (one row per metric: a value per step and the baseline) of every
    ranked value recorded at two or more steps; None when there is none."""
    labels = sorted({k for e in evals for k in e["metrics"] if ranked(k)})
    series = [s for s in (_series(evals, label) for label in labels) if s]
    if not series:
        return None
    steps = sorted({step for s in series for step in s["points"]})
    rows = [{"label": s["label"], "cells": [s["points"].get(step) for step in steps], "baseline": s["baseline"],
             "baseline_of": s["baseline_of"]} for s in series]
    return {"png": history_curves(series), "steps": steps, "rows": rows, "series": series}
