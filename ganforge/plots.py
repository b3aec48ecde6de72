"""Training curves with matplotlib, written atomically.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), never pyplot: no display
is needed and importing ganforge never switches the backend of the user's own plots (a notebook's inline
backend stays as it was).
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .fileio import atomic_path

PANELS = (("losses", ("loss_d", "loss_g", "loss_aux_d", "loss_aux_g", "loss_info")),
          ("discriminator outputs", ("d_real", "d_fake")),
          ("BEGAN equilibrium", ("k", "convergence", "recon_real", "recon_fake")),
          ("VAE terms", ("recon", "kl", "eval_test_elbo")),
          ("progressive growing", ("growth_stage", "growth_alpha")),
          ("SRGAN pixel and content losses", ("loss_mse", "loss_content")),
          ("classifier metrics (eval_every)", ("eval_is", "eval_ddm", "eval_fd_logits")))


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (a reader never sees half a file)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)


def plot_curves(rows: list[dict], path: Path) -> None:
    """Losses and mean D outputs against the training step, one panel each; skipped when nothing is plottable."""
    panels = [(t, keys) for t, keys in PANELS if any(k in r for r in rows for k in keys)]
    if not panels:
        return
    fig = Figure(figsize=(5 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            points = [(r["step"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), label=key, marker="." if len(points) < 30 else None)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
