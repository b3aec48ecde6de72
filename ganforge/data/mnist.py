"""MNIST and Fashion-MNIST from their IDX files (see :mod:`ganforge.data.idx`).

Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each plain or with ``.gz``.

Where they are looked for, in order:

* ``fashion-mnist``: ``ROOT/``, ``ROOT/fashion-mnist/``, ``ROOT/FashionMNIST/raw/`` (torchvision's layout)
  when a data root (``--data-root`` / ``GANFORGE_DATA``) is set, then :data:`SYSTEM_FASHION_MNIST`, the
  directory of the Debian/Ubuntu package ``dataset-fashion-mnist``
  (https://github.com/zalandoresearch/fashion-mnist).
* ``mnist``: ``ROOT/``, ``ROOT/mnist/``, ``ROOT/MNIST/raw/``; there is no system fallback.

Splits: ``train`` (60,000), ``test`` (10,000), ``valid`` = the LAST 10,000 training images and
``train50k`` = the FIRST 50,000 training images (the train/validation protocol of Goodfellow et al.,
2014), so ``train50k`` and ``valid`` are disjoint and together make ``train``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from ..errors import GanforgeError
from .base import ImageSet
from .common import candidate_dirs, check_split, holdout, make_set, register
from .idx import read_idx_pair

SPLITS = ("train", "test", "valid", "train50k")
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(d) for d in range(10)]


def _find_pair(dirs: Sequence[Path], prefix: str) -> Optional[tuple[Path, Path]]:
    """The first (images, labels) pair for ``prefix`` (``train``/``t10k``) in ``dirs``; plain before .gz."""
    for d in dirs:
        found = []
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            names = [f"{prefix}-{kind}", f"{prefix}-{kind}.gz"]
            found.append(next((d / n for n in names if (d / n).is_file()), None))
        if all(found):
            return found[0], found[1]
    return None


def load_idx_dataset(dataset: str, split: str, dirs: Sequence[Path], hint: str,
                     class_names: list[str]) -> ImageSet:
    """Load ``split`` of an MNIST-layout dataset from the first of ``dirs`` holding its two files."""
    check_split(dataset, split, SPLITS)
    prefix = "t10k" if split == "test" else "train"
    pair = _find_pair(dirs, prefix)
    if pair is None:
        tried = ", ".join(str(d) for d in dirs) or "no directory (no data root given)"
        raise GanforgeError(f"{dataset}: {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz] "
                            f"not found (tried: {tried}); {hint}")
    images, labels = read_idx_pair(*pair)
    if split != "test":
        images, labels = holdout(images, labels, split, dataset, pair[0])
    return make_set(images[:, None], labels, 10, f"{dataset}:{split}", pair[0].parent, class_names)


@register("fashion-mnist", SPLITS)
def load_fashion_mnist(split: str, root: Optional[Path]) -> ImageSet:
    """Fashion-MNIST, 28x28 grayscale, 10 clothing classes."""
    dirs = candidate_dirs(root, ["fashion-mnist", "FashionMNIST/raw"]) + [SYSTEM_FASHION_MNIST]
    hint = ("install with `apt-get install dataset-fashion-mnist` or put the IDX files under "
            "--data-root/GANFORGE_DATA")
    return load_idx_dataset("fashion-mnist", split, dirs, hint, FASHION_MNIST_CLASSES)


@register("mnist", SPLITS)
def load_mnist(split: str, root: Optional[Path]) -> ImageSet:
    """MNIST handwritten digits, 28x28 grayscale, from the user's IDX files."""
    dirs = candidate_dirs(root, ["mnist", "MNIST/raw"])
    hint = "put the MNIST IDX files under --data-root/GANFORGE_DATA (or in its mnist/ or MNIST/raw/ folder)"
    return load_idx_dataset("mnist", split, dirs, hint, MNIST_CLASSES)
