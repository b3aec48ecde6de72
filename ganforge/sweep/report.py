"""``ganforge sweep report``: Lucic et al. 2018's picture of a random search, and a JSON summary.

Lucic et al. 2018 (*Are GANs Created Equal?*, the large-scale experimental evaluation) compare models by
the distribution of FID over the sampled hyperparameter settings, and by the best FID reached as a
function of the budget (the number of settings tried). The left panel shows the first as one box (with
every trial as a point) per model, the right panel the second as the best score so far against the number
of finished trials, one line per model. Diverged runs (``inf``) are counted under each box, not drawn.
Several studies (one per preset) in one storage are read together; ``--study`` picks some of them.

The summary (``FILE.json`` beside ``FILE.png``) holds the best trial (study, number, value, parameters,
run directory), per-model statistics and the counts of complete, pruned, failed, diverged, running and
waiting trials (``surplus``: trials refused because the study was already full). Figures use
matplotlib's object API (no pyplot); both files are written atomically.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..fileio import write_json
from ..plots import save_figure
from ._optuna import quiet, require_optuna
from .options import ReportOptions
from .storage import check_sqlite, load_studies, open_storage, shown_url

FIGSIZE, DPI = (11.0, 4.2), 100  # the PNG is 1100 x 420 pixels


@dataclass
class Row:
    """One trial as the report sees it."""

    study: str
    number: int
    state: str                 # complete, pruned, fail, running, waiting
    value: float | None
    model: str
    params: dict = field(default_factory=dict)
    run_dir: str | None = None
    surplus: bool = False


def read_rows(studies) -> list[Row]:
    rows = []
    for study in studies:
        for t in study.get_trials(deepcopy=False):
            attrs = t.user_attrs
            rows.append(Row(study.study_name, t.number, t.state.name.lower(), t.value,
                            attrs.get("model", study.study_name), dict(t.params), attrs.get("run_dir"),
                            bool(attrs.get("surplus"))))
    return rows


def group_key(row: Row, models_in: dict[str, set]) -> str:
    """The model label, with the study's name when one model appears in several studies."""
    return row.model if len(models_in[row.model]) == 1 else f"{row.model} [{row.study}]"


def groups(rows: list[Row]) -> dict[str, list[Row]]:
    models_in: dict[str, set] = {}
    for r in rows:
        models_in.setdefault(r.model, set()).add(r.study)
    out: dict[str, list[Row]] = {}
    for r in sorted(rows, key=lambda r: (r.study, r.number)):
        out.setdefault(group_key(r, models_in), []).append(r)
    return out


def scored(row: Row) -> bool:
    """A complete trial with a finite final score (a diverged one has ``inf``)."""
    return row.state == "complete" and row.value is not None and math.isfinite(row.value)


def finite(rows: list[Row]) -> list[Row]:
    return [r for r in rows if scored(r)]


def best_so_far(rows: list[Row]) -> list[float]:
    """After each finished (complete or pruned) trial in trial order: the lowest final score yet (nan before)."""
    best, out = math.inf, []
    for r in rows:
        if r.state not in ("complete", "pruned"):
            continue
        if scored(r):
            best = min(best, r.value)
        out.append(best if math.isfinite(best) else math.nan)
    return out


def summarise(rows: list[Row], storage: str, names: list[str]) -> dict:
    """The JSON summary: counts, the best trial and per-model statistics."""
    counts = {s: sum(r.state == s and not r.surplus for r in rows) for s in ("complete", "pruned", "running", "waiting")}
    counts.update(failed=sum(r.state == "fail" and not r.surplus for r in rows), surplus=sum(r.surplus for r in rows),
                  diverged=sum(r.state == "complete" and not scored(r) for r in rows))
    good = finite(rows)
    top = min(good, key=lambda r: r.value, default=None)
    best = None if top is None else {"study": top.study, "trial": top.number, "value": top.value,
                                     "model": top.model, "params": top.params, "run_dir": top.run_dir}
    models = {}
    for key, members in groups(rows).items():
        values = [r.value for r in finite(members)]
        models[key] = {"complete": sum(r.state == "complete" for r in members), "finite": len(values),
                       "pruned": sum(r.state == "pruned" for r in members),
                       "best": min(values) if values else None,
                       "median": float(np.median(values)) if values else None}
    return {"storage": storage, "studies": names, "objective": "fid (minimised)", "counts": counts,
            "best": best, "models": models}


def draw(rows: list[Row]) -> Figure:
    """Left: final score per model (box and points); right: best score so far against trials finished."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    left, right = fig.subplots(1, 2)
    grouped = groups(rows)
    jitter = np.random.default_rng(0)
    labels, data = [], []
    for i, (key, members) in enumerate(grouped.items(), start=1):
        values = [r.value for r in finite(members)]
        diverged = sum(r.state == "complete" for r in members) - len(values)
        extra = [f"{k} {v}" for k, v in (("pruned", sum(r.state == "pruned" for r in members)),
                                          ("diverged", diverged)) if v]
        labels.append(f"{key}\n(n={len(values)}" + "".join(f", {e}" for e in extra) + ")")
        data.append(values)
        left.scatter(i + jitter.uniform(-0.15, 0.15, len(values)), values, s=12, alpha=0.6, zorder=3)
        curve = best_so_far(members)
        right.step(range(1, len(curve) + 1), curve, where="post", label=key)
    left.boxplot([d if d else [math.nan] for d in data], showfliers=False)
    left.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
    left.set_ylabel("final FID")
    left.set_title("final score over trials, per model")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("trials finished (complete or pruned)")
    right.set_ylabel("best FID so far")
    right.set_title("best score against the budget")
    if grouped:
        right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def write_report(options: ReportOptions) -> tuple[Path, Path]:
    """Write the PNG and its JSON summary; returns both paths."""
    require_optuna()
    check_sqlite(options.storage, must_exist=True)
    storage = open_storage(options.storage)
    with quiet():
        studies = load_studies(storage, options.studies)
        rows = read_rows(studies)
    summary = summarise(rows, shown_url(options.storage), [s.study_name for s in studies])
    fig = draw(rows)
    save_figure(fig, options.out, DPI)
    write_json(options.summary_path, summary)
    return options.out, options.summary_path
