"""Training curves with matplotlib (Agg backend: no display needed), written atomically."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .fileio import atomic_path  # noqa: E402

PANELS = (("losses", ("loss_d", "loss_g")), ("discriminator outputs", ("d_real", "d_fake")))


def plot_curves(rows: list[dict], path: Path) -> None:
    """Losses and mean D outputs against the training step, one panel each; skipped when empty."""
    if not rows:
        return
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(10, 3.6))
    for ax, (title, keys) in zip(axes, PANELS):
        for key in keys:
            if any(key in r for r in rows):
                ax.plot(steps, [r.get(key, float("nan")) for r in rows], label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
