"""``modnet-memorisation``: does a ModNet copy its source image? (Basart 2017, "Analysis of Generative
Adversarial Models", section 2.5.5.)

ModNet modifies real images, so its outputs are expected to stay near their sources: the thesis found the
nearest training image of every modification to be its own source. This experiment measures that share on
``n`` training images sent to other classes (``modnet`` row: the ``modnet-*`` preset of the dataset), and,
for both that row and a noise-driven GAN (``gan`` row: the ``quickstart`` preset on the same data), the
nearest-neighbour statistics of the ``memorisation`` metric (:func:`ganforge.metrics.memorisation_summary`:
the median generated-to-train distance over the median test-to-train distance, and the share of samples
closer to a training image than the 1st percentile of test images), in pixels on the [0, 1] scale,
Euclidean. Rows are resumable and finished rows are kept (``ganforge.experiments._rows``). It writes
``OUT/ROW.json`` per row and ``OUT/modnet-memorisation.json`` and ``.png`` (histograms of the distances to
the nearest training image, generated against test).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ..data import load_dataset, test_split_of
from ..errors import GanforgeError
from ..metrics import memorisation_summary, nearest_neighbour_distances
from ..plots import save_figure
from ..training.feed import prepare
from ..training.trained import load
from . import EXPERIMENTS, ExperimentOptions
from ._common import write_outputs
from ._rows import chosen_rows, measured_row, row_config

NAME = "modnet-memorisation"
MODNET_PRESETS = {"mnist-5k": "modnet-mnist", "mnist": "modnet-mnist", "svhn": "modnet-svhn"}
ROWS = ("modnet", "gan")


def row_preset(row: str, dataset: str) -> str:
    return MODNET_PRESETS.get(dataset, "modnet-fashion") if row == "modnet" else "quickstart"


def row_protocol(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """The resolved run config and the measurement settings that decide a row's numbers."""
    preset = row_preset(row, dataset)
    cfg = row_config(NAME, preset, options, dataset, {})
    return {"experiment": NAME, "row": row, "preset": preset, "config": cfg, "n": options.n, "seed": options.seed,
            "train": cfg["data"], "test": f"{test_split_of(cfg['data'])}[:{options.n}]",
            "space": "pixels in [0, 1], euclidean", "generator": "ema" if cfg["ema_decay"] else "raw",
            "sources": "n training images drawn without replacement (seed), sent to other classes"
            if row == "modnet" else None}


def flat01(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) or floats in [0, 1] -> float64 (N, C*H*W) in [0, 1]."""
    x = images.double() / 255 if images.dtype == torch.uint8 else images.double()
    return x.flatten(1)


def generated(run: Path, settings: dict) -> tuple[torch.Tensor, np.ndarray | None, object, object]:
    """(generated images in [0, 1], the source index of each in the train split or None, train, test)."""
    model = load(run)
    cfg = model.config
    train = prepare(load_dataset(cfg.data, cfg.data_root), cfg.image_size)
    test = prepare(load_dataset(test_split_of(cfg.data), cfg.data_root), cfg.image_size)
    n = settings["n"]
    if n > min(len(train), len(test)):
        raise GanforgeError(f"{NAME}: --n {n} but {train.name} has {len(train)} and {test.name} {len(test)} images")
    gen = torch.Generator().manual_seed(settings["seed"])
    if not model.family.needs_sources:
        return model.sample(n, seed=settings["seed"]).double() / 255, None, train, test
    idx = torch.randperm(len(train), generator=gen)[:n]
    y = train.labels[idx]
    k = model.family.shape.num_classes
    targets = (y + torch.randint(1, k, y.shape, generator=gen)) % k
    result, _ = model.modify(train.images[idx], targets)
    return ((result.double() + 1) / 2).clamp(0, 1), idx.numpy(), train, test


def measure_row(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """Train (or resume) the row's model, generate, and measure nearest training images; ``OUT/ROW.json``."""
    settings = row_protocol(row, options, dataset)
    return measured_row(NAME, options.out, settings, lambda run: nearest_training_images(run, settings))


def nearest_training_images(run: Path, settings: dict) -> dict:
    """The row's values: own-source share, the memorisation summary and both sets of NN distances."""
    fake, sources, train, test = generated(run, settings)
    fake_x, train_x, test_x = flat01(fake), flat01(train.images), flat01(test.images[:settings["n"]])
    dist, nearest = nearest_neighbour_distances(fake_x, train_x, k=1)
    summary = memorisation_summary(fake_x, train_x, test_x)
    test_dist, _ = nearest_neighbour_distances(test_x, train_x, k=1)
    return {"own_source_share": None if sources is None else float(np.mean(nearest[:, 0] == sources)),
            **{k: v for k, v in summary.items() if k != "closest_pairs"},
            "gen_train_distances": [round(float(d), 5) for d in dist[:, 0]],
            "test_train_distances": [round(float(d), 5) for d in test_dist[:, 0]]}


def draw(rows: dict[str, dict], path: Path) -> None:
    """One panel per row: histograms of nearest-training-image distances, generated against test images."""
    fig = Figure(figsize=(4.4 * len(rows), 3.2))
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    for ax, (row, r) in zip(axes, rows.items()):
        bins = np.linspace(0, max(max(r["gen_train_distances"]), max(r["test_train_distances"])), 40)
        ax.hist(r["test_train_distances"], bins, alpha=0.6, label="test images", color="tab:gray")
        ax.hist(r["gen_train_distances"], bins, alpha=0.6, label=f"{row} ({r['preset']})", color="tab:blue")
        own = "" if r["own_source_share"] is None else f", own source nearest {r['own_source_share']:.0%}"
        ax.set_title(f"{row}: median ratio {r['median_ratio']:.2f}{own}", fontsize=9)
        ax.set_xlabel("distance to the nearest training image (pixels in [0, 1])", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


@EXPERIMENTS.register(NAME)
def modnet_memorisation(options: ExperimentOptions) -> dict:
    """Measure the chosen rows (``--rows modnet,gan``), then write the summary JSON and the figure."""
    dataset, chosen = chosen_rows(NAME, options, ROWS, row_protocol)
    rows = {row: measure_row(row, options, dataset) for row in chosen}
    summary = {row: {k: v for k, v in r.items() if not k.endswith("_distances")} for row, r in rows.items()}
    return write_outputs(Path(options.out), NAME, {"rows": summary}, lambda path: draw(rows, path))


modnet_memorisation.takes_rows = True  # --rows modnet,gan and KEY=VALUE overrides of every row's preset
modnet_memorisation.default_n = 1000
