"""``parzen-vs-quality``: the Parzen estimate over training for a model with and without batch norm, beside
its FID (Basart 2017, "Analysis of Generative Adversarial Models", Fig. 3.3 and section 3.4.2: the weakened
model gains log-likelihood while its samples stay worse, so the Parzen estimate does not follow quality).

Two rows train the same GAN (``quickstart``: the Lucic et al. small GAN, non-saturating loss, EMA generator):
``bn`` as it is and ``no-bn`` with every batch norm of G and D removed (``batchnorm: false`` on both nets),
both on the training images outside ``valid`` (``train50k``; ``train40k`` / ``train63k`` for CIFAR-10 / SVHN),
so Parzen's sigma is chosen on images the models never saw, as in Goodfellow et al. 2014.
Every checkpoint is kept, and each is scored by :func:`ganforge.evaluation.evaluate_history` with Parzen in
pixel space, Parzen on the principal components holding 95% of the variance (``parzen-pca``) and FID, each
with its baseline of real training images; those records live in each run and are reused, so a killed
experiment resumes at the first checkpoint it had not scored. ``KEY=VALUE`` overrides both rows' preset
(e.g. ``steps=4000 ckpt_every=500``). Writes ``OUT/ROW.json``, ``OUT/parzen-vs-quality.json`` and ``.png``
(one panel per value against the training step, both rows, the baselines dashed).
"""
from __future__ import annotations

from pathlib import Path

from ..evaluation import evaluate_history
from ..evaluation.baseline import baselines
from . import EXPERIMENTS, ExperimentOptions
from ._common import Curve, plot_panels, write_outputs
from ._rows import chosen_rows, measured_row, row_config

NAME = "parzen-vs-quality"
PRESET = "quickstart"
ROWS = {"bn": {}, "no-bn": {"model.generator.batchnorm": False, "model.discriminator.batchnorm": False}}
#: the training split that leaves ``valid`` (where Parzen chooses sigma) unseen, as Goodfellow et al. 2014 do
HELD_OUT_TRAIN = {"cifar10": "train40k", "svhn": "train63k"}
METRICS = ["parzen", "parzen-pca", "fid"]
VALUES = ("parzen", "parzen_pca", "fid")


def row_protocol(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """The row's resolved config (every checkpoint kept) and the scoring settings."""
    train = f"{dataset}:{HELD_OUT_TRAIN.get(dataset, 'train50k')}"
    cfg = row_config(NAME, PRESET, options, dataset, {**ROWS[row], "keep_checkpoints": 1_000_000, "data": train})
    return {"experiment": NAME, "row": row, "preset": PRESET, "config": cfg, "n": options.n, "seed": options.seed,
            "metrics": METRICS, "reference": f"{dataset}:test"}


def curves_of(run: Path, settings: dict) -> dict:
    """Each value at every kept checkpoint and its baseline, from the run's history records."""
    history = evaluate_history(run, settings["metrics"], n=settings["n"], ref=settings["reference"],
                               seed=settings["seed"])
    lines = baselines(run, settings["metrics"], settings["reference"], settings["n"], settings["seed"])  # kept
    return {"steps": [step for step, _ in history],
            "values": {v: [result[v] for _, result in history] for v in VALUES},
            "baselines": {v: line["values"][v] for line in lines.values() for v in VALUES if v in line["values"]}}


def draw(rows: dict[str, dict], path: Path) -> None:
    panels, hlines = {}, {}
    for value in VALUES:
        panels[value] = [Curve(row, r["steps"], r["values"][value]) for row, r in rows.items()]
        base = next((r["baselines"].get(value) for r in rows.values() if r["baselines"].get(value) is not None), None)
        if base is not None:
            hlines[value] = (base, "real training images")
    plot_panels(panels, path, "training step", "Parzen (pixels, PCA 95%) and FID over training, with and "
                "without batch norm (Basart 2017, Fig. 3.3)", hlines=hlines)


@EXPERIMENTS.register(NAME)
def parzen_vs_quality(options: ExperimentOptions) -> dict:
    """Train (or resume) each chosen row, score its whole history, write the record and the figure."""
    dataset, chosen = chosen_rows(NAME, options, tuple(ROWS), row_protocol)
    rows = {}
    for row in chosen:
        settings = row_protocol(row, options, dataset)
        rows[row] = measured_row(NAME, options.out, settings,
                                 lambda run, s=settings: curves_of(run, s))
    summary = {row: {k: r[k] for k in ("steps", "values", "baselines", "train_seconds")} for row, r in rows.items()}
    return write_outputs(Path(options.out), NAME, {"rows": summary}, lambda path: draw(summary, path))


parzen_vs_quality.takes_rows = True  # --rows bn,no-bn and KEY=VALUE overrides of both rows' preset
parzen_vs_quality.default_n = 2000
