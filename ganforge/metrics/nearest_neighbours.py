"""Chunked k-nearest-neighbour search and a memorisation summary (generated vs training images).

The k nearest reference rows of every query row are found block by block: one float64 ``chunk x M``
squared-distance block (:func:`~ganforge.metrics.pairwise.squared_distance_blocks`) and ``torch.topk``
on it, so memory stays at one block and the answer does not depend on ``chunk``; the winners are then
re-measured exactly from the differences (see :func:`knn`). Hand-written because
scikit-learn's ``NearestNeighbors`` is not a dependency and its tree/brute back-ends are no faster in
784 dimensions, and ``torch.cdist`` / ``scipy.spatial.distance.cdist`` hold the whole N x M matrix.

:func:`memorisation_summary` is the nearest-neighbour check the GAN literature uses against memorisation
(Goodfellow et al. 2014, Fig. 2, rightmost column: "nearest training example of the neighboring
sample"; the distance-ratio test follows the data-copying view of Meehan et al. 2020, "A Non-Parametric
Test to Detect Data-Copying in Generative Models"): how close generated samples are to the training set
compared with how close held-out test images are to it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import GanforgeError
from .pairwise import DEFAULT_CHUNK, as_pair, check_count, squared_distance_blocks


EXTRA_CANDIDATES = 8
"""Candidates beyond k kept from each block's approximate search and re-ranked on exact distances."""


def knn(x: torch.Tensor, y: torch.Tensor, k: int, chunk: int = DEFAULT_CHUNK,
        exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """k nearest rows of ``y`` for each row of ``x`` (float64 tensors); see :func:`nearest_neighbour_distances`.

    The expansion ||x||^2 + ||y||^2 - 2 x.y finds the candidates fast, but its rounding depends on the
    CPU's BLAS kernel (an exact copy came out at 3e-8 with AVX-512 and 0 with AVX2). So the best
    ``k + EXTRA_CANDIDATES`` candidates of each row are re-measured as ||x - y||^2 from the differences,
    which is exactly 0 for a copy on any CPU, and re-ranked (ties by index)."""
    limit = y.shape[0] - (1 if exclude_self else 0)
    k = check_count(k, "k", 1, limit)
    if exclude_self and x.shape[0] != y.shape[0]:
        raise GanforgeError("exclude_self needs queries and reference to be the same set")
    wide = min(k + EXTRA_CANDIDATES, limit)
    dist = np.empty((x.shape[0], k), dtype=np.float64)
    idx = np.empty((x.shape[0], k), dtype=np.int64)
    for start, block in squared_distance_blocks(x, y, chunk):
        rows = block.shape[0]
        if exclude_self:
            ar = torch.arange(rows)
            block[ar, ar + start] = float("inf")
        _, candidates = torch.topk(block, wide, dim=1, largest=False, sorted=True)  # (rows, wide)
        del block
        exact = ((x[start:start + rows, None, :] - y[candidates]) ** 2).sum(dim=2).numpy()  # (rows, wide)
        cand = candidates.numpy()
        order = np.lexsort((cand, exact), axis=1)[:, :k]  # nearest first, ties by index
        dist[start:start + rows] = np.sqrt(np.take_along_axis(exact, order, axis=1))
        idx[start:start + rows] = np.take_along_axis(cand, order, axis=1)
    return dist, idx


def nearest_neighbour_distances(queries: Any, reference: Any, k: int = 1, chunk: int = DEFAULT_CHUNK,
                                exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances (n, k) float64 and indices (n, k) int64 of the k nearest ``reference`` rows.

    Columns are sorted nearest first. With ``exclude_self=True`` ``queries`` must be ``reference`` itself
    and each row's own index is skipped (the k-NN radius used by precision/recall and density/coverage).
    """
    q, r = as_pair(queries, reference, "queries", "reference")
    return knn(q, r, k, chunk, exclude_self)


def memorisation_summary(gen: Any, train: Any, test: Any, chunk: int = DEFAULT_CHUNK, top: int = 8) -> dict:
    """Nearest-training-neighbour statistics of generated samples against those of test images.

    Returns a dict with
      * ``median_ratio``: median gen-to-train NN distance / median test-to-train NN distance (well below
        1 suggests copying; about 1 is what an unseen sample from the data distribution gives),
      * ``share_below_test_p1``: share of generated samples closer to a training image than the 1st
        percentile of the test-to-train NN distances (about 0.01 for a model that does not copy),
      * ``test_p1``: that percentile, ``median_gen_train`` and ``median_test_train``,
      * ``closest_pairs``: the ``top`` (default 8) closest (gen index, train index, distance) triples,
        nearest first.
    """
    g, tr = as_pair(gen, train, "gen", "train")
    _, te = as_pair(train, test, "train", "test")
    d_gen, i_gen = knn(g, tr, 1, chunk)
    d_test, _ = knn(te, tr, 1, chunk)
    d_gen, i_gen, d_test = d_gen[:, 0], i_gen[:, 0], d_test[:, 0]
    med_gen, med_test = float(np.median(d_gen)), float(np.median(d_test))
    p1 = float(np.percentile(d_test, 1))
    order = np.argsort(d_gen, kind="stable")[:top]
    return {
        "median_ratio": med_gen / med_test if med_test > 0 else float("inf"),
        "share_below_test_p1": float(np.mean(d_gen < p1)),
        "test_p1": p1,
        "median_gen_train": med_gen,
        "median_test_train": med_test,
        "closest_pairs": [(int(j), int(i_gen[j]), float(d_gen[j])) for j in order],
    }
