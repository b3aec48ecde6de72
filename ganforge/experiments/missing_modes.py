"""``missing-modes``: a "generator" that learned only n training images (Basart 2017, section 3.4.5, Fig. 3.7).

Protocol of the thesis (section 3.4.5): take n distinct random images of the training set, replicate them
until the set has the training-set size N, score it against the test set with the Inception Score and
DDM (eq. 3.4), for n in {10, 20, 100, 1,000, 10,000}; repeat 5 times and average. On CIFAR-10 (N = 50,000)
the Inception Score saturates around n = 1,000 (replication 5) while DDM keeps improving, because DDM
compares with the test set and so penalises the missing modes (Fig. 3.7).

Here N = min(--n, training-split size), the n grid is capped at N (a value above it becomes N: the set
without replication), the reference is --n random test images (the subsample and cached features of
``ganforge score``), and the default metrics are ``is`` and ``ddm`` on the dataset classifier's logits, the
thesis's embedding (section 3.2.1); ``--metrics`` and ``--features`` choose others. The extractor sees one
image at a time in eval mode, so the features of a replicated set are those of its distinct images,
repeated: only the distinct images go through it. Each set's distinct images are counted on the pixels.
The dashed line of each panel is the test set scored against itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import load_dataset
from ..errors import GanforgeError
from ..evaluation import Context, cached_features, load_side
from ..features import extract
from . import EXPERIMENTS, ExperimentOptions
from ._common import Curve, base_protocol, compute_metrics, dataset_name, panel_keys, plan_embeddings, \
    plot_panels, write_outputs

NAME = "missing-modes"
GRID = (10, 20, 100, 1_000, 10_000)   # thesis section 3.4.5
REPEATS = 5                            # "we repeat this experiment 5 times and take the average"
DEFAULT_METRICS = ("is", "ddm")


@dataclass(frozen=True)
class Draw:
    """One replicated set: ``index`` (N,) into the training split holds ``n`` distinct values."""

    n: int
    repeat: int
    index: torch.Tensor


def replicate(pool_size: int, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Indices of ``n`` distinct random pool images tiled to ``size`` (each ``size // n`` times, the first
    ``size % n`` once more): the replicated training set of section 3.4.5."""
    if not 1 <= n <= min(pool_size, size):
        raise GanforgeError(f"missing-modes: n must be in 1..{min(pool_size, size)} (pool and set size), got {n}")
    distinct = torch.randperm(pool_size, generator=gen)[:n]
    return distinct.repeat(-(-size // n))[:size]


def n_grid(size: int) -> list[int]:
    """The thesis grid capped at the set size ``size``."""
    return sorted({min(n, size) for n in GRID})


def plan_draws(pool_size: int, size: int, seed: int, repeats: int = REPEATS) -> list[Draw]:
    gen = torch.Generator().manual_seed(seed)
    return [Draw(n, r, replicate(pool_size, n, size, gen)) for r in range(repeats) for n in n_grid(size)]


def distinct_images(images: torch.Tensor) -> int:
    """How many different images (pixel for pixel) a set holds."""
    return int(torch.unique(images.reshape(len(images), -1), dim=0).shape[0])


def summarise(draws: list[Draw], runs: list[dict], distinct: list[int], size: int) -> list[dict]:
    """Per n: mean, std (over repeats) and the runs of every value, and each repeat's distinct count."""
    rows = []
    for n in sorted({d.n for d in draws}):
        picked = [i for i, d in enumerate(draws) if d.n == n]
        values = {k: {"mean": float(np.mean([runs[i][k] for i in picked])),
                      "std": float(np.std([runs[i][k] for i in picked])),
                      "runs": [runs[i][k] for i in picked]} for k in runs[picked[0]]}
        rows.append({"n": n, "replication": size / n, "distinct_images": [distinct[i] for i in picked],
                     "values": values})
    return rows


@EXPERIMENTS.register(NAME)
def missing_modes(options: ExperimentOptions) -> dict:
    """Score replicated training subsets against the test split for each n (section 3.4.5, Fig. 3.7)."""
    dataset = dataset_name(options.dataset)
    if options.n < 1:
        raise GanforgeError(f"missing-modes: --n must be a positive number of images, got {options.n}")
    reference = f"{dataset}:test"
    pool = load_dataset(f"{dataset}:train", options.data_root)
    size = min(options.n, len(pool))
    embeddings = plan_embeddings(options.metrics or DEFAULT_METRICS, options.features, {}, reference,
                                 options.data_root)
    test = load_side(reference, options.n, options.seed, options.data_root)
    real = {e.features: cached_features(test.images, e.extractor, test.content) for e in embeddings}
    ctx = {e.features: Context(reference, e.extractor, options.data_root, options.seed) for e in embeddings}
    draws = plan_draws(len(pool), size, options.seed)
    used = torch.unique(torch.cat([d.index for d in draws]))  # sorted distinct pool indices
    feats = {e.features: extract(e.extractor, pool.images[used]) for e in embeddings}
    runs, distinct = [], []
    for d in draws:
        fake = {name: f[torch.searchsorted(used, d.index).numpy()] for name, f in feats.items()}
        runs.append(compute_metrics(embeddings, real, fake, ctx)[0])
        distinct.append(distinct_images(pool.images[d.index]))
    itself, sources = compute_metrics(embeddings, real, real, ctx)
    protocol = base_protocol(NAME, dataset, options.seed, embeddings, source="Basart 2017 section 3.4.5, Fig. 3.7",
                             splits={"pool": f"{dataset}:train", "reference": reference},
                             n={"reference": len(test.images), "set_size": size, "pool": len(pool),
                                "grid": n_grid(size)},
                             repeats=REPEATS, value_features=sources)
    record = {"protocol": protocol, "results": summarise(draws, runs, distinct, size), "test_vs_itself": itself}
    return write_outputs(options.out, NAME, record, lambda path: _plot(record, path))


def _plot(record: dict, path) -> None:
    proto = record["protocol"]
    keys = panel_keys(record["results"][0]["values"])
    panels = {f"{k} [{proto['value_features'][k]}]": [Curve(
        "replicated set", [r["n"] for r in record["results"]],
        [r["values"][k]["mean"] for r in record["results"]], [r["values"][k]["std"] for r in record["results"]])]
        for k in keys}
    hlines = {f"{k} [{proto['value_features'][k]}]": (record["test_vs_itself"][k], "test set vs itself")
              for k in keys}
    title = (f"missing modes on {proto['dataset']}: {proto['n']['reference']} test images vs n training images\n"
             f"replicated to {proto['n']['set_size']} (mean +- std of {proto['repeats']} repeats; Basart 2017 Fig. 3.7)")
    plot_panels(panels, path, "n distinct training images", title, xscale="log", hlines=hlines)
