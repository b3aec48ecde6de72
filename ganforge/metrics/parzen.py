"""Gaussian Parzen-window log-likelihood, as in Goodfellow et al. 2014.

Goodfellow et al. 2014, "Generative Adversarial Nets", section 5 and Table 1 (the estimator of Breuleux
et al. 2011; reference code ``parzen_ll.py`` in goodfeli/adversarial): an isotropic Gaussian of width
sigma is put on each of the n generated samples mu_i and each data point x (d-dimensional) gets

    log p(x) = logsumexp_i( -||x - mu_i||^2 / (2 sigma^2) ) - log n - d log(sigma sqrt(2 pi)).

sigma is the value of ``numpy.logspace(-1, 0, 10)`` maximising the mean log-likelihood of a held-out
validation set (:func:`select_parzen_sigma`); the paper reports the test-set mean +- std / sqrt(n).

Hand-written because no maintained library computes it at this size: scikit-learn's ``KernelDensity``
walks a tree (slow in 784 dimensions) and goodfeli's Theano code is unmaintained. Here the squared
distances come from :func:`~ganforge.metrics.pairwise.squared_distance_blocks`, one float64
``chunk x n`` block at a time (||x||^2 + ||mu||^2 - 2 x.mu, clamped at 0, with a float64 matrix
multiply: a float32 matmul with float64 norms and accumulation was measured on Fashion-MNIST pixels to
be off by up to 2e-4 relative (5e-3 nats) at sigma = 0.1, against a 1e-6 goal), followed by a float64
``torch.logsumexp`` over the samples. One distance block (plus logsumexp's temporary of the same size) is
held at a time, and the result does not depend on ``chunk``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import GanforgeError
from .pairwise import DEFAULT_CHUNK, as_pair, squared_distance_blocks


def _check_sigmas(sigmas: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all() or (arr <= 0).any():
        raise GanforgeError(f"sigma must be a positive number (or a 1-D list of them), got {sigmas!r}")
    return arr


def parzen_log_likelihoods(samples: Any, data: Any, sigmas: Sequence[float], chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """log p(x) for every sigma in ``sigmas`` and every row of ``data``: array (len(sigmas), n_data).

    Each distance block is computed once and rescaled in place for each sigma in turn.
    """
    mu, x = as_pair(samples, data, "samples", "data")
    sig = _check_sigmas(sigmas)
    n, d = mu.shape
    out = np.empty((sig.size, x.shape[0]), dtype=np.float64)
    for start, block in squared_distance_blocks(x, mu, chunk):
        stop = start + block.shape[0]
        scale = 1.0  # block currently holds scale * squared distances; rescaled in place per sigma
        for s, sigma in enumerate(sig):
            target = -1.0 / (2.0 * sigma * sigma)
            block.mul_(target / scale)
            scale = target
            out[s, start:stop] = torch.logsumexp(block, dim=1).numpy()
        del block
    constants = math.log(n) + d * np.log(sig * math.sqrt(2.0 * math.pi))
    return out - constants[:, None]


def parzen_log_likelihood(samples: Any, data: Any, sigma: float, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Per-example Parzen log-likelihood (n_data,) of ``data`` under windows of width ``sigma`` on ``samples``."""
    sig = _check_sigmas(sigma)
    if sig.size != 1:
        raise GanforgeError(f"sigma must be one positive number, got {sigma!r}")
    return parzen_log_likelihoods(samples, data, sig, chunk)[0]


def select_parzen_sigma(samples: Any, valid: Any, sigmas: Any = None, chunk: int = DEFAULT_CHUNK) -> float:
    """The sigma in ``sigmas`` (default ``numpy.logspace(-1, 0, 10)``) maximising the mean log p(valid)."""
    grid = _check_sigmas(np.logspace(-1, 0, 10) if sigmas is None else sigmas)
    means = parzen_log_likelihoods(samples, valid, grid, chunk).mean(axis=1)
    return float(grid[int(np.argmax(means))])


def pca_basis(fit_on: Any, fraction: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), components (d, k)) of the fewest principal components of ``fit_on`` (N, d) that hold at
    least ``fraction`` of its variance: the thesis' Parzen "on the principal components holding 95% of the
    variance" (Basart 2017, section 3.3). Projections ``(x - mean) @ components`` are an orthonormal map,
    so distances in them are pixel distances within the kept subspace. SVD in float64 (numpy)."""
    if not 0 < fraction <= 1:
        raise GanforgeError(f"PCA fraction must be in (0, 1], got {fraction}")
    x = np.asarray(fit_on, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise GanforgeError(f"PCA needs a 2-D array of at least 2 rows, got shape {x.shape}")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    explained = np.cumsum(s ** 2) / np.sum(s ** 2)
    k = int(np.searchsorted(explained, fraction - 1e-12) + 1)
    return mean, vt[:k].T
