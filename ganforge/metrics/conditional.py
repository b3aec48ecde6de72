"""Conditional accuracy: how often a classifier sees the class a conditional generator was asked for.

Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs" (section 4.1) judge a
class-conditional generator by the accuracy of a pre-trained classifier on its samples, scored against
the labels the samples were generated for; Shmelkov et al. 2018, "How good is my GAN?" (section 3) call
the same quantity GAN-test. With logits f(x) of a classifier over K classes and the requested labels y,

    cond_acc = (1 / n) sum_i 1[ argmax_c f_c(x_i) = y_i ]

A perfect generator scores about the classifier's own test accuracy; a generator that ignores its label
scores about the chance level sum_c p(c)^2 (1/K for balanced labels). Ties in the argmax go to the
lowest class index, as ``numpy.argmax`` does.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GanforgeError
from .pairwise import as_matrix


def _as_labels(labels: Any, n: int, k: int) -> np.ndarray:
    """``labels`` as int64 (n,) with every value in [0, k), else a GanforgeError naming what was expected."""
    arr = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise GanforgeError(f"labels must be {n} integers shaped ({n},) to match the logits, "
                            f"got {arr.dtype} {arr.shape}")
    if arr.min() < 0 or arr.max() >= k:
        raise GanforgeError(f"labels must lie in 0..{k - 1} (the classifier's {k} classes), "
                            f"got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


def conditional_accuracy(logits: Any, labels: Any) -> float:
    """Share of rows of ``logits`` (n, K) whose argmax equals ``labels`` (n,) -- ACGAN accuracy / GAN-test."""
    t = as_matrix(logits, "logits").numpy()
    y = _as_labels(labels, t.shape[0], t.shape[1])
    return float(np.mean(t.argmax(axis=1) == y))
