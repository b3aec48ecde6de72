"""``modnet-augment``: do a ModNet's relabelled modifications help a classifier? (Basart 2017, "Analysis of
Generative Adversarial Models", section 2.5.4 and Fig. 2.7; the idea follows Salimans et al. 2016, "Improved
Techniques for Training GANs", who trained classifiers on a few real images plus generated ones.)

One ModNet is trained on the dataset's labelled train split (the ``modnet-*`` augmentation preset: shared
critic), as in the thesis, then two measurements are made with fresh classifiers (``small-cnn``, trained by
:func:`ganforge.features.classifier.fit_classifier` for the same number of updates in every cell, so that
each comparison is at equal compute) and scored on the whole test split:

- ``generated`` (thesis: 88% on SVHN): a classifier trained only on modifications: ``n`` training images
  (drawn with ``seed``), each sent to every other class and labelled with that target;
- ``curve`` (Fig. 2.7): for real subsets of ``sizes`` images (default 10, 100, 1,000, 10,000; per seed the
  subsets are nested prefixes of one random permutation of the train split), a classifier on the subset
  alone and one on the subset plus the 9 relabelled modifications of each of its images, over ``seeds``
  seeds (default 3; seed s picks the subset and the classifier's initialisation and batches), plus one
  classifier on the whole train split for reference. Sizes larger than the train split are skipped.

The ModNet saw every training label, so this measures what its modifications add to a classifier that sees
few images, not a semi-supervised setting in which labels are scarce (the thesis' protocol). Generated images
are rounded to uint8, as saved images would be. Settings: ``augment.sizes=[10,100]``, ``augment.seeds=3``,
``augment.steps=1000``, ``augment.batch_size=128``; every other ``KEY=VALUE`` overrides the ModNet preset.
Each classifier is a cell ``OUT/cells/NAME.json`` written when it finishes: a killed run resumes the ModNet
from its checkpoint and keeps finished cells; cells measured under other settings are refused. It writes
``OUT/modnet-augment.json`` and ``.png`` (test accuracy against the number of real images).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .. import __version__
from ..data import load_dataset, test_split_of
from ..errors import GanforgeError
from ..features.classifier import accuracy, fit_classifier
from ..fileio import write_json
from ..models.base import to_uint8
from ..plots import save_figure
from ..training.feed import prepare
from ..training.trained import load
from . import EXPERIMENTS, ExperimentOptions
from ._common import write_outputs
from ._rows import chosen_rows, finished_row, row_config, train_row

NAME = "modnet-augment"
ROWS = ("generated", "curve")
PRESETS = {"mnist-5k": "modnet-mnist", "mnist": "modnet-mnist", "svhn": "modnet-svhn"}
DEFAULT_PRESET = "modnet-fashion"
NET = "small-cnn"
ARMS = ("real", "real+generated")


@dataclass(frozen=True)
class AugmentSettings:
    """The classifier side of the protocol (``augment.KEY=VALUE``)."""

    sizes: tuple[int, ...] = (10, 100, 1000, 10000)
    seeds: int = 3
    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3


def augment_settings(overrides: dict) -> tuple[AugmentSettings, dict]:
    """(the ``augment.*`` settings, the remaining overrides for the ModNet preset); bad values are user errors."""
    mine = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("augment.")}
    rest = {k: v for k, v in overrides.items() if not k.startswith("augment.")}
    unknown = sorted(set(mine) - set(AugmentSettings.__dataclass_fields__))
    if unknown:
        raise GanforgeError(f"{NAME}: unknown setting augment.{unknown[0]} (expected augment.sizes, augment.seeds, "
                            f"augment.steps, augment.batch_size or augment.lr)")
    if "sizes" in mine:
        sizes = mine["sizes"] if isinstance(mine["sizes"], list) else [mine["sizes"]]
        if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise GanforgeError(f"{NAME}: augment.sizes={mine['sizes']!r}; expected a list of positive image "
                                f"counts, e.g. [10,100,1000]")
        mine["sizes"] = tuple(sorted(set(sizes)))
    for key in ("seeds", "steps", "batch_size"):
        if key in mine and not (isinstance(mine[key], int) and mine[key] >= 1):
            raise GanforgeError(f"{NAME}: augment.{key}={mine[key]!r}; expected a whole number of at least 1")
    if "lr" in mine and not (isinstance(mine["lr"], (int, float)) and mine["lr"] > 0):
        raise GanforgeError(f"{NAME}: augment.lr={mine['lr']!r}; expected a positive learning rate")
    return AugmentSettings(**mine), rest


def modnet_protocol(options: ExperimentOptions, dataset: str) -> dict:
    """The ModNet run's resolved config (its preset with the non-``augment.`` overrides)."""
    preset = PRESETS.get(dataset, DEFAULT_PRESET)
    _, overrides = augment_settings(options.overrides)
    cfg = row_config(NAME, preset, replace(options, overrides=overrides), dataset, {})
    return {"experiment": NAME, "row": "modnet", "preset": preset, "config": cfg,
            "generator": "ema" if cfg["ema_decay"] else "raw"}


def check_row(row: str, options: ExperimentOptions, dataset: str) -> None:
    """Refuse bad settings before the ModNet trains (``chosen_rows`` calls this for every chosen row)."""
    augment_settings(options.overrides)
    modnet_protocol(options, dataset)


class Cells:
    """The classifier cells of one experiment run: each ``OUT/cells/NAME.json``, computed once."""

    def __init__(self, out: Path, modnet: dict, aug: AugmentSettings) -> None:
        self.dir, self.modnet, self.aug = Path(out) / "cells", modnet, aug
        self.classifier = {"net": NET, "steps": aug.steps, "batch_size": aug.batch_size, "lr": aug.lr}

    def settings(self, name: str, **what) -> dict:
        return {"experiment": NAME, "row": name, "modnet": self.modnet, "classifier": self.classifier, **what,
                "test": "the whole test split"}

    def get(self, name: str, what: dict, images, labels, num_classes: int, test) -> dict:
        """Cell ``name``: read it if finished with these settings, else train its classifier and write it."""
        settings = self.settings(name, **what)
        path = self.dir / f"{name}.json"
        old = finished_row(NAME, path, settings)
        if old is not None:
            return old
        model = fit_classifier(NET, images, labels, num_classes, self.aug.steps, self.aug.batch_size,
                               self.aug.lr, what["seed"], desc=name)
        record = {"cell": name, "train_images": len(images), "test_accuracy": accuracy(model, test.images, test.labels),
                  "protocol": {"settings": settings, "ganforge_version": __version__}}
        write_json(path, record)
        return record


def modifications(model, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image sent to every other class: uint8 (N (K-1), C, H, W) modifications and their target labels
    (source-major: image i's K-1 modifications are rows i (K-1) ... i (K-1) + K-2)."""
    k = model.family.shape.num_classes
    sources = images.repeat_interleave(k - 1, dim=0)
    targets = (labels.repeat_interleave(k - 1) + torch.arange(1, k).repeat(len(labels))) % k
    result, _ = model.modify(sources, targets)
    return to_uint8((result + 1) / 2), targets


def generated_only(cells: Cells, model, train, test, n: int, seed: int) -> dict:
    """Row ``generated``: a classifier on the modifications of ``n`` training images only (all of them if the
    train split is smaller: the default n is 10,000)."""
    n = min(n, len(train))
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    images, targets = modifications(model, train.images[idx], train.labels[idx])
    cell = cells.get(f"generated-n{n}-s{seed}", {"arm": "generated", "sources": n, "seed": seed}, images, targets,
                     train.num_classes, test)
    return {"sources": n, "train_images": cell["train_images"], "test_accuracy": cell["test_accuracy"]}


def curve(cells: Cells, model, train, test) -> dict:
    """Row ``curve``: test accuracy per real subset size, real only and real + modifications, per seed."""
    sizes = [s for s in cells.aug.sizes if s <= len(train)]
    per_seed: dict[str, list[list[float]]] = {arm: [] for arm in ARMS}
    for seed in range(cells.aug.seeds):
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
        for arm in ARMS:
            per_seed[arm].append([])
        for size in sizes:
            x, y = train.images[perm[:size]], train.labels[perm[:size]]
            fake, fake_y = modifications(model, x, y)
            for arm, (images, labels) in zip(ARMS, ((x, y), (torch.cat([x, fake]), torch.cat([y, fake_y])))):
                what = {"arm": arm, "real": size, "seed": seed}
                cell = cells.get(f"{arm.replace('+', '-')}-{size}-s{seed}", what, images, labels,
                                 train.num_classes, test)
                per_seed[arm][-1].append(cell["test_accuracy"])
    full = cells.get("real-all-s0", {"arm": "real", "real": len(train), "seed": 0}, train.images, train.labels,
                     train.num_classes, test)
    return {"sizes": sizes, "skipped_sizes": [s for s in cells.aug.sizes if s > len(train)], "seeds": cells.aug.seeds,
            **{arm: summary(per_seed[arm]) for arm in ARMS}, "whole_train_split": full["test_accuracy"],
            "augmented_above_real": {str(size): bool(a > r) for size, a, r in zip(
                sizes, summary(per_seed["real+generated"])["mean"], summary(per_seed["real"])["mean"])}}


def summary(per_seed: list[list[float]]) -> dict:
    """Mean and sample standard deviation over seeds of each size's accuracy, with the per-seed values."""
    values = np.asarray(per_seed, dtype=float)  # (seeds, sizes)
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.full(values.shape[1], np.nan)
    return {"mean": values.mean(axis=0).tolist(), "std": std.tolist(), "per_seed": values.tolist()}


def draw(record: dict, path: Path) -> None:
    """Fig. 2.7: test accuracy against real training images (log scale), both arms with their seed spread."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    rows = record["rows"]
    if "curve" in rows:
        c = rows["curve"]
        for arm, colour in zip(ARMS, ("tab:gray", "tab:blue")):
            ax.errorbar(c["sizes"], c[arm]["mean"], yerr=np.nan_to_num(c[arm]["std"]), marker="o", capsize=3,
                        color=colour, label=f"{arm} (mean and std over {c['seeds']} seeds)")
        ax.axhline(c["whole_train_split"], color="black", ls=":", lw=1, label="whole train split")
        ax.set_xscale("log")
    if "generated" in rows:
        g = rows["generated"]
        ax.axhline(g["test_accuracy"], color="tab:orange", ls="--", lw=1,
                   label=f"modifications of {g['sources']} images only")
    ax.set_xlabel("real training images")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"ModNet augmentation ({record['dataset']}, {NET} classifiers at equal steps)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


@EXPERIMENTS.register(NAME)
def modnet_augment(options: ExperimentOptions) -> dict:
    """Train (or resume) the ModNet, measure the chosen rows cell by cell, write the summary and the figure."""
    dataset, chosen = chosen_rows(NAME, options, ROWS, check_row)
    aug, _ = augment_settings(options.overrides)
    modnet = modnet_protocol(options, dataset)
    run = Path(options.out) / "runs" / "modnet"
    seconds = train_row(modnet, run)
    model = load(run)
    cfg = model.config
    train = prepare(load_dataset(cfg.data, cfg.data_root), cfg.image_size)
    test = prepare(load_dataset(test_split_of(cfg.data), cfg.data_root), cfg.image_size)
    cells = Cells(Path(options.out), modnet, aug)
    rows: dict = {}
    if "generated" in chosen:
        rows["generated"] = generated_only(cells, model, train, test, options.n, options.seed)
    if "curve" in chosen:
        rows["curve"] = curve(cells, model, train, test)
    record = {"dataset": dataset, "modnet": {"run": str(run), "preset": modnet["preset"],
                                             "train_seconds": round(seconds, 1)}, "rows": rows,
              "protocol": {"modnet": modnet, "classifier": cells.classifier, "sizes": list(aug.sizes),
                           "seeds": aug.seeds, "n": options.n, "seed": options.seed,
                           "ganforge_version": __version__}}
    return write_outputs(Path(options.out), NAME, record, lambda path: draw(record, path))


modnet_augment.takes_rows = True  # --rows generated,curve; augment.KEY=VALUE and the ModNet preset's KEY=VALUE
modnet_augment.default_n = 10000
