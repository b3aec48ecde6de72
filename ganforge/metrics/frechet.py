"""Fréchet distance between two feature sets (FID when the features are Inception pool_3 activations).

Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"
(arXiv:1706.08500), the FID equation of its experiments section (the Fréchet distance of Dowson & Landau
1982 between Gaussians fitted to the two feature sets):

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr( (S1 S2)^(1/2) ).

Statistics are float64 with the n - 1 covariance (``np.cov(rowvar=False)``), as pytorch-fid and
torch-fidelity compute them. The trace of the matrix square root is taken, as torch-fidelity does, as
the sum of the real parts of the square roots of the eigenvalues of S1 S2 (S1 S2 is similar to a
positive semi-definite matrix, so its eigenvalues are real and >= 0 up to rounding; the complex square
root sends rounding-level negative eigenvalues to 0 real part). This avoids ``scipy.linalg.sqrtm`` and
pytorch-fid's retry with eps added to the diagonals. A result a few ulps below 0 (identical sets) is
returned as 0.

Only the formula is here: feature extraction (Inception) belongs to the caller. It is a few lines of
numpy on top of ``np.cov`` and ``np.linalg.eigvals``; no library function takes two feature arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GanforgeError
from .pairwise import as_pair


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and n - 1 covariance (d, d) of a float64 (n, d) feature array."""
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_from_stats(mu1: Any, s1: Any, mu2: Any, s2: Any) -> float:
    """Fréchet distance between N(mu1, s1) and N(mu2, s2); means (d,), covariances (d, d)."""
    m1 = np.asarray(mu1, dtype=np.float64)
    m2 = np.asarray(mu2, dtype=np.float64)
    c1 = np.asarray(s1, dtype=np.float64)
    c2 = np.asarray(s2, dtype=np.float64)
    if m1.ndim != 1:
        raise GanforgeError(f"mu1 must be a 1-D mean vector (d,), got shape {m1.shape}")
    d = m1.shape[0]
    for name, arr, shape in (("mu2", m2, (d,)), ("s1", c1, (d, d)), ("s2", c2, (d, d))):
        if arr.shape != shape:
            raise GanforgeError(f"{name} must have shape {shape} to match mu1, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise GanforgeError(f"{name} must be finite, but it holds NaN or inf values")
    diff = m1 - m2
    eigenvalues = np.linalg.eigvals(c1 @ c2)
    tr_sqrt = float(np.sqrt(eigenvalues.astype(np.complex128)).real.clip(min=0.0).sum())
    value = float(diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)
    return max(value, 0.0)


def frechet_distance(f1: Any, f2: Any) -> float:
    """Fréchet distance between Gaussians fitted to features ``f1`` (n1, d) and ``f2`` (n2, d)."""
    t1, t2 = as_pair(f1, f2, "f1", "f2")
    for name, t in (("f1", t1), ("f2", t2)):
        if t.shape[0] < 2:
            raise GanforgeError(f"{name} needs at least 2 rows for a covariance, got shape {tuple(t.shape)}")
    mu1, s1 = feature_statistics(t1.numpy())
    mu2, s2 = feature_statistics(t2.numpy())
    return frechet_from_stats(mu1, s1, mu2, s2)
