"""Distribution Divergence Measure (DDM) and its relative form.

S. Basart 2017, "Analysis of Generative Adversarial Models" (M.Sc. thesis, University of Chicago),
chapter 3, section 3.2: each set of embeddings is a mixture of equally weighted unit-variance Gaussians
centred on its points, and the KL divergence between the test mixture T and the generated mixture G is
approximated by the variational bound of eq. 3.1-3.3 (after Goldberger et al. 2003) with the constant
numerator dropped, giving eq. 3.4:

    DDM(T, G) = -1/|T| sum_{t in T} log( 1/|G| sum_{g in G} exp(-D(t, g)) ),

with D(t, g) = ||t - g||^2 / 2, the KL divergence between N(t, I) and N(g, I) (the thesis takes D to be
"the pairwise distances between each Gaussian mixture center"; the halved squared distance is the
KL-consistent choice, which ganforge takes). Lower is better. Because the numerator was dropped the
value is a KL bound only up to a constant; with D >= 0 this form is always >= 0, whereas the thesis notes
that its reported numbers are negative, so compare values only with each other, not with the thesis's
tables. The thesis computes it on 10-d classifier logits.

Eq. 3.5, the "relative" alternative the thesis also considered (and rejected because it misses dropped
modes), compares train-to-test with train-to-generated affinities:

    DDM_rel(R, T, G) = 1/|R| sum_{r in R} log( [1/|T| sum_t exp(-D(r, t))] / [1/|G| sum_g exp(-D(r, g))] ),

which is 0 when G = T and grows as the generated set fits the training set worse than the test set does
(negative values mean G sits closer to the training points than T, e.g. memorisation).

Both are hand-written (no library implements them) with ``logsumexp`` over float64 chunked squared-distance
blocks (:func:`~ganforge.metrics.pairwise.squared_distance_blocks`), so no exp underflows and only a
``chunk x |G|`` block is held at a time; results do not depend on ``chunk``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .pairwise import DEFAULT_CHUNK, as_matrix, as_pair, squared_distance_blocks


def log_mean_affinity(x: torch.Tensor, y: torch.Tensor, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """log( 1/|y| sum_j exp(-||x_i - y_j||^2 / 2) ) for every row x_i of ``x``: array (len(x),)."""
    out = np.empty(x.shape[0], dtype=np.float64)
    for start, block in squared_distance_blocks(x, y, chunk):
        out[start:start + block.shape[0]] = torch.logsumexp(block.mul_(-0.5), dim=1).numpy()
    return out - math.log(y.shape[0])


def ddm(test_emb: Any, gen_emb: Any, chunk: int = DEFAULT_CHUNK) -> float:
    """Eq. 3.4: mean over test embeddings t of -log(mean over generated g of exp(-||t - g||^2 / 2))."""
    t, g = as_pair(test_emb, gen_emb, "test_emb", "gen_emb")
    return float(-log_mean_affinity(t, g, chunk).mean())


def ddm_relative(train_emb: Any, test_emb: Any, gen_emb: Any, chunk: int = DEFAULT_CHUNK) -> float:
    """Eq. 3.5: mean over training embeddings r of log(mean_t exp(-D(r,t)) / mean_g exp(-D(r,g)))."""
    r = as_matrix(train_emb, "train_emb")
    t = as_matrix(test_emb, "test_emb", dim=r.shape[1], like="train_emb")
    g = as_matrix(gen_emb, "gen_emb", dim=r.shape[1], like="train_emb")
    return float((log_mean_affinity(r, t, chunk) - log_mean_affinity(r, g, chunk)).mean())
