"""Evaluation during training (``eval_every``): the callback :func:`ganforge.train` hands the Trainer.

:class:`ClassifierMetrics` scores a batch of generated images with the dataset classifier's logits against
the run's test split: classifier Inception Score, DDM, mode coverage, the Frechet distance of logits and,
for conditional runs, the conditional accuracy. It is cheap enough for curves (seconds per call), keeps
the reference features in memory after the first call and never touches the caller's random streams.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import metrics as M
from ..data import test_split_of
from ..features import extract
from .cache import cached_features
from .context import Context, make_extractor
from .inputs import load_side
from .registry import METRICS


def training_metrics(images: torch.Tensor, reference: str, data_root: str | None = None,
                     labels: torch.Tensor | None = None) -> dict:
    """Classifier logits of ``images`` against ``reference`` (same count, seed 0): classifier IS, DDM,
    mode coverage and the Frechet distance of logits; with the ``labels`` the images were generated for,
    also the conditional accuracy ``cond_acc``."""
    return ClassifierMetrics(reference, data_root, reference_is_test=True)(images, labels)


class ClassifierMetrics:
    """``__call__(images, labels) -> {name: value}`` for uint8 generated images (N, C, H, W) and the labels
    they were generated for (None for unconditional models); ``data`` is the run's training data spec,
    whose test split is the reference (or the reference itself with ``reference_is_test``)."""

    def __init__(self, data: str, data_root: str | None = None, reference_is_test: bool = False) -> None:
        self.reference = data if reference_is_test else test_split_of(data)
        self.data_root = data_root
        self._ready: tuple | None = None

    def _setup(self, n: int) -> tuple:
        if self._ready is None or self._ready[2] != n:
            extractor = make_extractor("classifier", self.reference, self.data_root)
            side = load_side(self.reference, n, 0, self.data_root)
            self._ready = (extractor, cached_features(side.images, extractor, side.content), n)
        return self._ready

    def __call__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        with torch.random.fork_rng(devices=[]):  # the extractor and metrics never move the caller's RNG
            extractor, real, _ = self._setup(len(images))
            fake = extract(extractor, images)
            return self._values(extractor, real, fake, labels)

    def _values(self, extractor, real: np.ndarray, fake: np.ndarray, labels: torch.Tensor | None) -> dict:
        ctx = Context(self.reference, extractor, self.data_root, 0)
        out = {"fd_logits": M.frechet_distance(real, fake)}
        for name in ("is", "ddm", "modes"):
            out.update(METRICS.get(name).fn(real, fake, ctx))
        if labels is not None:
            out["cond_acc"] = M.conditional_accuracy(fake, labels.cpu())
        return out
