"""Inception Score from classifier logits.

Salimans et al. 2016, "Improved Techniques for Training GANs", section 4: IS = exp(E_x KL(p(y|x) || p(y))),
computed as torch-fidelity does: softmax in float64, the samples cut into ``splits`` consecutive parts
(part i is rows [i N / splits, (i + 1) N / splits)), p(y) the mean prediction of the part, one score per
part, and the mean and ddof-0 standard deviation of those scores. Rows are used in the given order
(torch-fidelity shuffles first by default; shuffle before calling if you want that). 0 log 0 is 0.

Only the formula is here; the logits (Inception's 1008 logits or a dataset classifier's) come from the
caller.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import GanforgeError
from .pairwise import as_matrix, check_count


def inception_score(logits: Any, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` parts of exp(mean KL(p(y|x) || p(y))) for logits (n, classes)."""
    t = as_matrix(logits, "logits")
    n = t.shape[0]
    splits = check_count(splits, "splits", 1)
    if splits > n:
        raise GanforgeError(f"splits must be at most the number of rows of logits ({n}), got {splits}")
    log_p = torch.log_softmax(t, dim=1)
    p = log_p.exp()
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        part, log_part = p[lo:hi], log_p[lo:hi]
        log_py = part.mean(dim=0, keepdim=True).log()
        kl = torch.where(part > 0, part * (log_part - log_py), torch.zeros_like(part)).sum(dim=1)
        scores.append(float(kl.mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))
