"""Shared plumbing of the metric experiments (Basart 2017, sections 3.4.5 and 3.4.6).

Both experiments compare a reference set of real test images with a controlled "generated" set (replicated
training images, corrupted test images) under registered metrics of :mod:`ganforge.evaluation`. This module
holds what they share: which embedding each metric uses (:func:`plan_embeddings`), running the registered
metric wrappers on feature arrays (:func:`compute_metrics`), the ``protocol`` header, a one-panel-per-metric
matplotlib figure (object API, no pyplot) and writing ``OUT/NAME.json`` + ``OUT/NAME.png`` atomically. Metrics themselves are
never re-implemented here: they are the ``METRICS`` entries over ``ganforge.metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import __version__
from ..data import DATASETS, parse_spec
from ..errors import GanforgeError
from ..evaluation import METRICS, Context, make_extractor, preprocessing
from ..fileio import write_json
from ..plots import save_figure

# Values that qualify another value (its spread or a chosen parameter) are not given panels of their own.
AUX_SUFFIXES = ("_std", "_se", "_sigma")
ERROR_SUFFIXES = ("_std", "_se")


@dataclass(frozen=True)
class Embedding:
    """One feature extractor and the metrics computed on its features."""

    features: str                 # the extractor name as given, e.g. "classifier" or "pixels"
    extractor: object             # a ganforge.features.FeatureExtractor
    metrics: tuple[str, ...]


def dataset_name(text: str) -> str:
    """The experiment's DATASET argument: a registered dataset name without a split."""
    name = parse_spec(text)[0]
    if ":" in text:
        raise GanforgeError(f"dataset {text!r}: expected a dataset name without a split (e.g. fashion-mnist); "
                            f"the experiment picks its own splits")
    DATASETS.get(name)  # unknown names fail here, before any work
    return name


def plan_embeddings(metrics: Sequence[str], features: str | None, defaults: Mapping[str, str],
                    reference: str, data_root: str | None) -> list[Embedding]:
    """Group ``metrics`` by the features they use: ``features`` for all if given, else ``defaults[name]``,
    else the metric's own registered features; build each extractor once."""
    groups: dict[str, list[str]] = {}
    for name in metrics:
        spec = METRICS.get(name)
        groups.setdefault(features or defaults.get(name, spec.features), []).append(name)
    return [Embedding(feat, make_extractor(feat, reference, data_root), tuple(names))
            for feat, names in groups.items()]


def compute_metrics(embeddings: Sequence[Embedding], real: Mapping[str, np.ndarray],
                    fake: Mapping[str, np.ndarray], ctx: Mapping[str, Context]) -> tuple[dict, dict]:
    """Every metric on (reference features, generated features) of its embedding, keyed by features name.

    Returns the values as plain floats and, for each value, the features it was computed on.
    """
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for e in embeddings:
        for name in e.metrics:
            got = METRICS.get(name).fn(real[e.features], fake[e.features], ctx[e.features])
            values.update({k: float(v) for k, v in got.items()})
            sources.update({k: e.features for k in got})
    return values, sources


def base_protocol(experiment: str, dataset: str, seed: int, embeddings: Sequence[Embedding], **extra) -> dict:
    """The ``protocol`` object: experiment, dataset, seed, each embedding and which one each metric used."""
    feats = {e.features: {**e.extractor.protocol(), "preprocess": preprocessing(e.extractor)}
             for e in embeddings}
    metrics = {m: {"features": e.features, **METRICS.get(m).params} for e in embeddings for m in e.metrics}
    return {"experiment": experiment, "dataset": dataset, "seed": seed, "ganforge_version": __version__,
            "features": feats, "metrics": metrics, **extra}


def panel_keys(values: Mapping[str, float]) -> list[str]:
    """The value names that get a panel (``is``, ``ddm``, ...), not their ``_std``/``_se``/``_sigma``."""
    return [k for k in values if not k.endswith(AUX_SUFFIXES)]


def error_of(key: str, values: Mapping[str, float]) -> float | None:
    """The spread a metric reports with value ``key`` (``key_std`` or ``key_se``), if any."""
    return next((values[key + s] for s in ERROR_SUFFIXES if key + s in values), None)


@dataclass
class Curve:
    """One line of a panel: x positions, y values and optional error bars."""

    label: str
    x: list[float]
    y: list[float]
    err: list[float] | None = None


def plot_panels(panels: Mapping[str, list[Curve]], path: Path, xlabel: str, title: str,
                xscale: str = "linear", hlines: Mapping[str, tuple[float, str]] | None = None,
                xticks: Sequence[str] | None = None) -> None:
    """One panel per value name (a metric's output), each holding the given curves; written atomically.
    ``xticks`` names the positions 0, 1, ... of a categorical x axis (rows of a table)."""
    hlines = hlines or {}
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (name, curves) in zip(axes.flat, panels.items()):
        for c in curves:
            ax.errorbar(c.x, c.y, yerr=c.err, marker="o", ms=4, capsize=3, label=c.label)
        if name in hlines:
            ax.axhline(hlines[name][0], color="tab:orange", ls="--", lw=1, label=hlines[name][1])
        ax.set_xscale(xscale)
        if xticks is not None:
            ax.set_xticks(range(len(xticks)), list(xticks), fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def write_outputs(out: Path, name: str, record: dict, draw: Callable[[Path], None]) -> dict:
    """Write ``OUT/NAME.json`` (the record, with ``written``) and ``OUT/NAME.png`` (``draw(path)``)."""
    json_path, png_path = Path(out) / f"{name}.json", Path(out) / f"{name}.png"
    record["written"] = [str(json_path), str(png_path)]
    draw(png_path)
    write_json(json_path, record)
    return record
