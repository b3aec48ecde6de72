"""The report's matplotlib charts, each returned as base64 PNG for a ``data:`` URI.

Built with ``matplotlib.figure.Figure`` (no pyplot), so importing the report never switches the user's
matplotlib backend.

Text that came from files (run names, class names) is drawn with ``parse_math=False``, so a ``$`` in a
name is printed as it is instead of being parsed as mathtext.
"""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


def overlay(runs: list[dict]) -> str | None:
    """Generator loss and classifier metrics of several runs against the step, one panel per quantity."""
    keys = [k for k in ("loss_g", "eval_is", "eval_ddm") if any(k in row for r in runs for row in r["log"])]
    if not keys:
        return None
    fig = Figure(figsize=(5 * len(keys), 3.4))
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for run in runs:
            points = [(row["step"], row[key]) for row in run["log"] if key in row]
            if points:
                ax.plot(*zip(*points), label=run["name"])
        ax.set_title(key)
        ax.set_xlabel("step")
        legend = ax.legend(fontsize=8)
        for text in legend.get_texts():
            text.set_parse_math(False)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def class_histogram(classes: list[str], generated: list[int], reference: list[int]) -> str:
    """Grouped bars: the share of generated and of reference images the classifier puts in each class.

    Shares rather than counts, so sides of different sizes compare; the counts are in the legend."""
    gen, ref = np.asarray(generated, dtype=float), np.asarray(reference, dtype=float)
    pos = np.arange(len(classes))
    fig = Figure(figsize=(max(5.0, 0.55 * len(classes) + 1.5), 3.4))
    ax = fig.subplots()
    ax.bar(pos - 0.2, ref / max(ref.sum(), 1), 0.4, label=f"reference (n={int(ref.sum())})", color="#9aa5b1")
    ax.bar(pos + 0.2, gen / max(gen.sum(), 1), 0.4, label=f"generated (n={int(gen.sum())})", color="#2b6cb0")
    long_names = max((len(c) for c in classes), default=0) > 3
    ax.set_xticks(pos, labels=classes, rotation=35 if long_names else 0, ha="right" if long_names else "center",
                  fontsize=8, parse_math=False)
    ax.set_ylabel("share of images")
    ax.set_title("class histogram (dataset classifier, argmax of logits)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def history_curves(series: list[dict]) -> str:
    """One panel per metric: its value at each evaluated checkpoint against the training step, and its baseline
    (real training images against the same reference) as a dashed line, as the thesis' Fig. 3.6 draws DDM.
    ``series``: ``{"label", "points": {step: value}, "baseline": float | None, "baseline_of": str}``."""
    cols = min(3, len(series))
    rows = -(-len(series) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, s in zip(axes, series):
        steps, values = zip(*sorted(s["points"].items()))
        ax.plot(steps, values, marker="o", color="#2b6cb0", label="checkpoints")
        if s["baseline"] is not None:
            ax.axhline(s["baseline"], linestyle="--", color="#718096", label="real training images")
        ax.set_title(s["label"], fontsize=10, parse_math=False)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(series):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def growth_curves(rows: list[dict]) -> str:
    """A progressively grown run's resolution (left axis) and fade-in alpha (right axis) against the step, from
    its log records (means over each log interval)."""
    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(6.4, 2.8))
    ax = fig.subplots()
    ax.plot(steps, [r["growth_resolution"] for r in rows], color="#2b6cb0", label="resolution (px)")
    ax.set_xlabel("training step")
    ax.set_ylabel("resolution (px)", color="#2b6cb0")
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(steps, [r["growth_alpha"] for r in rows], color="#dd6b20", label="fade-in alpha")
    twin.set_ylim(-0.05, 1.05)
    twin.set_ylabel("fade-in alpha", color="#dd6b20")
    ax.set_title("progressive growing: resolution and fade-in alpha", fontsize=10)
    fig.tight_layout()
    return _png(fig)
