"""``embeddings``: is DDM's verdict independent of the embedding it is computed on? (Basart 2017, "Analysis of
Generative Adversarial Models", Fig. 3.4 and section 3.4.4, which claims DDM is insensitive to it.)

Two families of image sets with a known quality order, each built from one random half of the test split and
compared with ``n`` images of the other half: ``noise`` (the images themselves, then Gaussian noise of
standard deviation 0.05, 0.1, 0.2 and 0.4 on the [0, 1] scale, clipped) and ``modes`` (n images of all 10
classes, then of the first 5, 2 and 1 classes only: the missing-modes failure). DDM (eq. 3.4) of every set is
computed on the logits, the prelogits and the hypercolumns (the global-average-pooled output of every
convolutional ReLU, concatenated) of classifiers of each network in ``embeddings.archs`` (``small-cnn``,
``shallow``) and each seed in ``embeddings.seeds`` (0, 1, 2), trained for ``embeddings.epochs`` (10, the
dataset classifier's recipe) and cached one per (dataset, network, seed, epochs). For each embedding and
family it reports Kendall's tau between DDM's order and the expected one, and the mean tau between every
two embeddings' orders over all sets (1: every embedding ranks the sets alike). Writes
``OUT/embeddings.json`` and ``.png`` (each embedding's DDM, scaled to [0, 1], along each family).
"""
from __future__ import annotations

from itertools import combinations, cycle
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import nn

from ..data import load_dataset
from ..errors import GanforgeError
from ..features.classifier import CLASSIFIER_NETS, ClassifierRecipe, load_classifier
from ..metrics import ddm
from ..plots import save_figure
from . import EXPERIMENTS, ExperimentOptions
from ._common import dataset_name, write_outputs

NAME = "embeddings"
DEFAULTS = {"archs": ["small-cnn", "shallow"], "seeds": [0, 1, 2], "epochs": 10}
NOISE = (0.0, 0.05, 0.1, 0.2, 0.4)
MODES = (10, 5, 2, 1)


def settings_of(options: ExperimentOptions) -> dict:
    """The ``embeddings.*`` settings over their defaults; anything else is refused."""
    mine = {k.split(".", 1)[1]: v for k, v in options.overrides.items() if k.startswith("embeddings.")}
    other = sorted(set(options.overrides) - {f"embeddings.{k}" for k in mine})
    unknown = sorted(set(mine) - set(DEFAULTS))
    if other or unknown or options.metrics or options.features or options.rows:
        raise GanforgeError(f"{NAME} takes only embeddings.archs, embeddings.seeds and embeddings.epochs "
                            f"(got {(other + unknown)[:1] or '--metrics/--features/--rows'})")
    s = {**DEFAULTS, **mine}
    for arch in s["archs"] if isinstance(s["archs"], list) else [None]:
        CLASSIFIER_NETS.get(str(arch))
    if not (isinstance(s["seeds"], list) and s["seeds"] and all(isinstance(x, int) for x in s["seeds"])):
        raise GanforgeError(f"{NAME}: embeddings.seeds={s['seeds']!r}; expected a list of whole numbers")
    if not (isinstance(s["epochs"], int) and s["epochs"] >= 1):
        raise GanforgeError(f"{NAME}: embeddings.epochs={s['epochs']!r}; expected a whole number of at least 1")
    return s


def image_sets(dataset: str, n: int, seed: int, data_root: str | None) -> tuple[torch.Tensor, dict]:
    """(the reference: n images of one random half of the test split, {family: [(label, images)], best first}
    built from the other half)."""
    test = load_dataset(f"{dataset}:test", data_root)
    half = len(test) // 2
    if n > half:
        raise GanforgeError(f"{NAME}: --n {n} but each half of {dataset}:test has {half} images")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(test), generator=gen)  # two random halves (a test split may be class-sorted)
    ref = test.images[order[:n]]
    pool, labels = test.images[order[half:]], test.labels[order[half:]]
    base = pool[torch.randperm(len(pool), generator=gen)[:n]]
    noise = []
    for s in NOISE:
        x = base.float() / 255 + s * torch.randn(base.shape, generator=gen)
        noise.append((f"noise {s:g}", (x.clamp(0, 1) * 255).round().to(torch.uint8)))
    modes = []
    for k in MODES:
        idx = torch.nonzero(labels < k).flatten()
        if len(idx) == 0:
            raise GanforgeError(f"{NAME}: {dataset}:test has no images of classes 0..{k - 1}")
        modes.append((f"{k} classes", pool[idx[torch.randint(len(idx), (n,), generator=gen)]]))
    return ref, {"noise": noise, "modes": modes}


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, batch: int = 500) -> dict[str, np.ndarray]:
    """Logits, prelogits and hypercolumns (pooled output of every ReLU on a feature map) of ``images``."""
    maps: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: maps.append(out.mean((2, 3))) if out.dim() == 4 else None)
             for m in model.modules() if isinstance(m, nn.ReLU)]
    parts: dict[str, list] = {"logits": [], "prelogits": [], "hypercolumns": []}
    try:
        for lo in range(0, len(images), batch):
            maps.clear()
            logits, pre = model(images[lo:lo + batch].float() / 255.0)
            parts["logits"].append(logits)
            parts["prelogits"].append(pre)
            parts["hypercolumns"].append(torch.cat(maps, 1))
    finally:
        for h in hooks:
            h.remove()
    return {k: torch.cat(v).double().numpy() for k, v in parts.items()}


def tau(values: list[float]) -> float:
    """Kendall's tau between the expected order (best first) and DDM's (lower is better)."""
    return float(kendalltau(np.arange(len(values)), values)[0])


def measure(dataset: str, settings: dict, ref: torch.Tensor, sets: dict, data_root: str | None) -> dict:
    """DDM of every set on every embedding of every classifier: {embedding: {family: [values]}} + accuracies."""
    values, accuracy = {}, {}
    for arch in settings["archs"]:
        for seed in settings["seeds"]:
            recipe = ClassifierRecipe(dataset, epochs=settings["epochs"], seed=seed, net=arch)
            model, record = load_classifier(dataset, data_root, recipe=recipe)
            accuracy[f"{arch} seed {seed}"] = record["test_accuracy"]
            ref_emb = embed(model, ref)
            for family, items in sets.items():
                embedded = [embed(model, images) for _, images in items]
                for layer in ref_emb:
                    key = f"{arch} seed {seed} {layer}"
                    values.setdefault(key, {})[family] = [ddm(ref_emb[layer], e[layer]) for e in embedded]
    return {"ddm": values, "test_accuracy": accuracy}


def agreement(values: dict) -> dict:
    """Per embedding and family, tau against the expected order; the mean tau between every two embeddings."""
    per = {emb: {fam: tau(v) for fam, v in fams.items()} for emb, fams in values.items()}
    flat = {emb: [x for fam in sorted(fams) for x in fams[fam]] for emb, fams in values.items()}
    pairs = [float(kendalltau(flat[a], flat[b])[0]) for a, b in combinations(sorted(flat), 2)]
    return {"tau_expected": per, "mean_pairwise_tau": float(np.mean(pairs)) if pairs else 1.0,
            "min_pairwise_tau": float(np.min(pairs)) if pairs else 1.0}


def key_parts(key: str) -> tuple[str, str]:
    """(network, layer) of an embedding key ``"NET seed S LAYER"`` as :func:`measure` writes it."""
    return key.split(" seed ")[0], key.rsplit(" ", 1)[1]


def draw(values: dict, labels: dict, path: Path) -> None:
    """One panel per family: each embedding's DDM scaled to [0, 1] along the sets (best first); the colour is
    the layer, the line style the network, and the seeds of one (network, layer) share both, so the legend
    stays short and the spread over seeds shows as a bundle."""
    layers = sorted({key_parts(emb)[1] for emb in values})
    archs = sorted({key_parts(emb)[0] for emb in values})
    colours = dict(zip(layers, cycle(("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"))))
    styles = dict(zip(archs, cycle(("-", "--", ":", "-."))))  # more networks than styles repeat them
    fig = Figure(figsize=(5.2 * len(labels), 4.2))
    axes = fig.subplots(1, len(labels), squeeze=False)[0]
    for ax, (family, names) in zip(axes, labels.items()):
        for emb, fams in values.items():
            v = np.array(fams[family])
            span = v.max() - v.min()
            arch, layer = key_parts(emb)
            ax.plot(range(len(v)), (v - v.min()) / (span if span > 0 else 1), marker="o", ms=3, lw=1,
                    color=colours[layer], ls=styles[arch], alpha=0.7)
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_title(f"{family} (best first)", fontsize=10)
        ax.set_ylabel("DDM, scaled to [0, 1]", fontsize=8)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colours[layer], ls=styles[arch], label=f"{arch} {layer}")
               for arch in archs for layer in layers]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle("DDM on each embedding, every seed one line (Basart 2017, Fig. 3.4)", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save_figure(fig, path)


@EXPERIMENTS.register(NAME)
def embeddings(options: ExperimentOptions) -> dict:
    dataset = dataset_name(options.dataset)
    settings = settings_of(options)
    ref, sets = image_sets(dataset, options.n, options.seed, options.data_root)
    measured = measure(dataset, settings, ref, sets, options.data_root)
    labels = {fam: [label for label, _ in items] for fam, items in sets.items()}
    record = {"sets": labels, **measured, **agreement(measured["ddm"]),
              "protocol": {"experiment": NAME, "dataset": dataset, "n": options.n, "seed": options.seed, **settings,
                           "reference": f"n images of a random half of {dataset}:test (seed)",
                           "ddm": "Basart 2017 eq. 3.4, D = ||t - g||^2 / 2"}}
    return write_outputs(Path(options.out), NAME, record, lambda path: draw(measured["ddm"], labels, path))


embeddings.takes_rows = True  # no rows; embeddings.KEY=VALUE settings
embeddings.default_n = 1000
