"""Improved precision and recall (Kynkäänniemi et al. 2019).

Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models",
section 2 (the indicator f(phi, Phi) of eq. (1) and precision/recall of eq. (2)): each point's ball
has radius the distance to its k-th nearest neighbour in its own set (itself excluded), k = 3; the
manifold of a set is the union of its balls;

    precision = share of generated points inside some real ball   (||f - r|| <= radius(r)),
    recall    = share of real points inside some generated ball.

Hand-written (the reference code is TensorFlow, and the ``prdc`` package builds full N x M matrices):
radii come from the chunked k-NN search and membership from chunked float64 squared-distance blocks
(:func:`~ganforge.metrics.pairwise.squared_distance_blocks`), compared with the squared radii, so only
one ``chunk x M`` block is alive and the result does not depend on ``chunk``.
"""
from __future__ import annotations

from typing import Any

import torch

from .nearest_neighbours import knn
from .pairwise import DEFAULT_CHUNK, as_pair, squared_distance_blocks


def kth_radius_squared(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Squared distance from each row of ``x`` to its k-th nearest other row (self excluded)."""
    dist, _ = knn(x, x, k, chunk, exclude_self=True)
    return torch.from_numpy(dist[:, -1] ** 2)


def share_inside_balls(points: torch.Tensor, centres: torch.Tensor, radius_sq: torch.Tensor, chunk: int) -> float:
    """Share of ``points`` within distance radius of at least one of ``centres`` (distance <= radius)."""
    inside = 0
    for _, block in squared_distance_blocks(points, centres, chunk):
        inside += int((block <= radius_sq.unsqueeze(0)).any(dim=1).sum())
    return inside / points.shape[0]


def precision_recall(real: Any, fake: Any, k: int = 3, chunk: int = DEFAULT_CHUNK) -> tuple[float, float]:
    """(precision, recall) of ``fake`` against ``real`` feature sets, both (n, d)."""
    r, f = as_pair(real, fake, "real", "fake")
    r_rad = kth_radius_squared(r, k, chunk)
    f_rad = kth_radius_squared(f, k, chunk)
    return share_inside_balls(f, r, r_rad, chunk), share_inside_balls(r, f, f_rad, chunk)
