"""``digits``: scikit-learn's 8x8 handwritten digits (``sklearn.datasets.load_digits()``, the UCI
optdigits test set, 1,797 images, shipped inside scikit-learn so nothing is downloaded).

Pixel values 0..16 are scaled to uint8 with ``round(v * 255 / 16)``. The images are split stratified
80/20 into ``train`` and ``test`` by :func:`ganforge.data.common.stratified_split` with seed 0
(deterministic).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import GanforgeError
from .base import ImageSet
from .common import check_split, make_set, register, stratified_split

SPLITS = ("train", "test")
TEST_FRACTION = 0.2
SEED = 0


@register("digits", SPLITS)
def load_digits(split: str, root: Optional[Path]) -> ImageSet:
    """Load ``train`` or ``test`` of scikit-learn's 8x8 digits (``root`` is unused)."""
    check_split("digits", split, SPLITS)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise GanforgeError("digits needs scikit-learn (expected it installed: pip install scikit-learn)") from None
    bunch = sk_load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * 255.0 / 16.0)
    images = np.clip(images, 0, 255).astype(np.uint8)[:, None]
    labels = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION, SEED)
    idx = train_idx if split == "train" else test_idx
    return make_set(images[idx], labels[idx], 10, f"digits:{split}", "sklearn.datasets.load_digits",
                    [str(d) for d in range(10)])
