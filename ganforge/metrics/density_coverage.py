"""Density and coverage (Naeem et al. 2020).

Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models" (ICML 2020,
arXiv:2002.09797), section 3, the density and coverage equations, with k = 5 and the real-sample
k-NN balls B(x_i, NND_k(x_i)) (self excluded):

    density  = 1/(k M) sum_j sum_i 1[ y_j in B(x_i, NND_k(x_i)) ]
    coverage = 1/N     sum_i 1[ exists j: y_j in B(x_i, NND_k(x_i)) ],

x_i the N real and y_j the M fake points. Membership is the strict ``distance < radius`` of the authors'
``prdc`` code. Hand-written because ``prdc`` builds the full N x M distance matrix; here the fake-to-real
squared distances come one float64 ``chunk x N`` block at a time
(:func:`~ganforge.metrics.pairwise.squared_distance_blocks`), so the result does not depend on ``chunk``.
"""
from __future__ import annotations

from typing import Any

import torch

from .pairwise import DEFAULT_CHUNK, as_pair, squared_distance_blocks
from .precision_recall import kth_radius_squared


def density_coverage(real: Any, fake: Any, k: int = 5, chunk: int = DEFAULT_CHUNK) -> tuple[float, float]:
    """(density, coverage) of ``fake`` against ``real`` feature sets, both (n, d)."""
    r, f = as_pair(real, fake, "real", "fake")
    radius_sq = kth_radius_squared(r, k, chunk).unsqueeze(0)
    total = 0
    covered = torch.zeros(r.shape[0], dtype=torch.bool)
    for _, block in squared_distance_blocks(f, r, chunk):
        inside = block < radius_sq
        total += int(inside.sum())
        covered |= inside.any(dim=0)
    density = total / (k * f.shape[0])
    coverage = float(covered.double().mean())
    return float(density), coverage
