"""``ddm-ranking``: do the metrics rank the thesis' comparison models in the expected order? (Basart 2017,
"Analysis of Generative Adversarial Models", Table 3.1 and Fig. 3.6.)

The thesis scores models whose quality order is known by construction and asks which metric recovers it:
on MNIST, DCGAN < small DCGAN < weakened DCGAN (best first; ``dcgan-fashion`` at 32 px, ``dcgan-small-fashion``,
``dcgan-weak-fashion``, here on any MNIST-like dataset), on CIFAR-10 the training set < Improved GAN < WGAN-GP
< DCGAN. The training set itself is the first row everywhere (real images are the best "model"). Each model
row is trained or resumed (:mod:`ganforge.experiments._rows`; ``KEY=VALUE`` overrides every row's preset,
e.g. ``steps=2000``), ``n`` samples (5,000 by default) are drawn, brought to the dataset's image size
(bilinear, antialiased, as saved images would be) and scored against ``n`` test images with the registered
metrics (DDM, FID, KID, IS, Parzen, precision/recall/density/coverage by default; ``--metrics`` chooses).
Each metric's ranking of the rows is compared with the expected order by Kendall's tau (1: the same order,
-1: reversed). Writes ``OUT/ROW.json`` per row, ``OUT/ddm-ranking.json`` and ``.png`` (one panel per value,
rows in the expected order, tau in the title).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from ..errors import GanforgeError
from ..evaluation import score
from ..fileio import write_json
from ..sampling import _write_npz
from ..training.feed import resize_images
from ..training.trained import load
from . import EXPERIMENTS, ExperimentOptions
from ._common import Curve, dataset_name, plot_panels, write_outputs
from ._rows import measured_row, row_config

NAME = "ddm-ranking"
METRICS = ["ddm", "fid", "kid", "is", "parzen", "prdc"]
#: row -> (preset, fixed overrides), best first: the order the thesis expects
ORDERS = {
    "mnist-like": {"train": None, "dcgan": ("dcgan-fashion", {"image_size": 32}),
                   "small": ("dcgan-small-fashion", {}), "weak": ("dcgan-weak-fashion", {})},
    "cifar10": {"train": None, "improved": ("improved-gan-fm-fashion", {"image_size": 32}),
                "wgangp": ("wgangp-cifar32", {}), "dcgan": ("dcgan-fashion", {"image_size": 32})},
}
#: +1 higher is better, -1 lower is better; other values are recorded but not ranked
DIRECTIONS = {"ddm": -1, "fid": -1, "kid": -1, "is": 1, "parzen": 1, "precision": 1, "recall": 1, "density": 1,
              "coverage": 1, "ddm_relative": -1, "ddm_sum": -1, "parzen_pca": 1, "cond_acc": 1}


def rows_of(dataset: str) -> dict:
    return ORDERS["cifar10" if dataset == "cifar10" else "mnist-like"]


def row_protocol(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """A model row's resolved config and scoring settings; the ``train`` row has no config."""
    spec = rows_of(dataset)[row]
    base = {"experiment": NAME, "row": row, "n": options.n, "seed": options.seed,
            "metrics": options.metrics or METRICS, "features": options.features, "reference": f"{dataset}:test"}
    if spec is None:
        return {**base, "preset": None, "images": f"{dataset}:train, n drawn with the seed"}
    preset, fixed = spec
    return {**base, "preset": preset, "config": row_config(NAME, preset, options, dataset, fixed),
            "images": "n samples of the EMA generator (seed), resized to the dataset's size"}


def scored(settings: dict, images_spec: str, data_root: str | None) -> dict:
    values = score(settings["reference"], images_spec, settings["metrics"], settings["features"], settings["n"],
                   settings["seed"], data_root)
    return {k: v for k, v in values.items() if k != "protocol"} | {"score_protocol": values["protocol"]}


def model_row(row: str, options: ExperimentOptions, dataset: str) -> dict:
    """Train or resume the row's run, sample n images at the dataset's size into ``OUT/samples/ROW.npz``,
    and score them."""
    settings = row_protocol(row, options, dataset)
    out = Path(options.out)

    def measure(run: Path) -> dict:
        model = load(run)
        images = model.sample(settings["n"], seed=settings["seed"])
        size = score_size(dataset, options.data_root)
        path = out / "samples" / f"{row}.npz"
        _write_npz(resize_images(images, size), None, path)
        return scored(settings, str(path), options.data_root)

    return measured_row(NAME, out, settings, measure)


def train_row(options: ExperimentOptions, dataset: str) -> dict:
    """The training set scored like a model (kept in ``OUT/train.json`` when its settings match)."""
    settings = row_protocol("train", options, dataset)
    path = Path(options.out) / "train.json"
    try:
        old = json.loads(path.read_text())
        if old.get("protocol", {}).get("settings") == settings:
            return old
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        pass
    record = {"row": "train", "preset": None, **scored(settings, f"{dataset}:train", options.data_root),
              "protocol": {"settings": settings}}
    write_json(path, record)
    return record


def score_size(dataset: str, data_root: str | None) -> int:
    from ..data import load_dataset

    return int(load_dataset(f"{dataset}:test[:1]", data_root).images.shape[-1])


def rankings(rows: dict[str, dict]) -> dict[str, dict]:
    """For each ranked value: the rows from best to worst and Kendall's tau against the expected order."""
    order = list(rows)
    out = {}
    for key, sign in DIRECTIONS.items():
        if not all(isinstance(rows[r].get(key), (int, float)) for r in order):
            continue
        values = np.array([rows[r][key] for r in order], dtype=np.float64)
        ranked = [order[i] for i in np.argsort(-sign * values, kind="stable")]
        # badness against the expected position: 1 when the metric orders the rows as expected, -1 reversed
        tau = kendalltau(np.arange(len(order)), -sign * values)[0]
        out[key] = {"ranking": ranked, "kendall_tau": float(tau)}
    return out


def draw(rows: dict[str, dict], ranks: dict[str, dict], path: Path) -> None:
    names = list(rows)
    panels = {f"{k} (tau {r['kendall_tau']:+.2f})": [Curve(k, list(range(len(names))), [rows[n][k] for n in names])]
              for k, r in ranks.items()}
    plot_panels(panels, path, "rows in the expected order (best first)",
                "Metrics against the expected order of the comparison models (Basart 2017, Table 3.1)", xticks=names)


@EXPERIMENTS.register(NAME)
def ddm_ranking(options: ExperimentOptions) -> dict:
    """Measure the chosen rows (the training set and each comparison model), rank them under each metric."""
    dataset = dataset_name(options.dataset)
    expected = rows_of(dataset)
    unknown = sorted(set(options.rows or []) - set(expected))
    if unknown:
        raise GanforgeError(f"{NAME}: unknown row(s) {', '.join(unknown)} (expected some of {', '.join(expected)})")
    chosen = [r for r in expected if not options.rows or r in options.rows]
    for row in chosen:
        row_protocol(row, options, dataset)  # every config resolves before hours of training
    rows = {r: train_row(options, dataset) if expected[r] is None else model_row(r, options, dataset) for r in chosen}
    ranks = rankings(rows) if len(rows) > 1 else {}
    summary = {r: {k: v for k, v in rec.items() if k not in ("score_protocol", "protocol")} for r, rec in rows.items()}
    record = {"expected_order": chosen, "rows": summary, "rankings": ranks}
    return write_outputs(Path(options.out), NAME, record, lambda path: draw(summary, ranks, path))


ddm_ranking.takes_rows = True  # --rows train,dcgan,...; KEY=VALUE overrides every model row's preset
ddm_ranking.default_n = 5000
