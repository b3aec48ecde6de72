"""SVHN cropped digits (format 2 of http://ufldl.stanford.edu/housenumbers/): the MATLAB files
``train_32x32.mat``, ``test_32x32.mat`` and ``extra_32x32.mat`` in ``ROOT/svhn/`` or ``ROOT/``, read with
``scipy.io.loadmat``.

Each holds ``X``, uint8 (32, 32, 3, N), and ``y``, (N, 1) labels 1..10 where 10 stands for the digit 0;
10 is mapped to 0 so labels are the digits themselves. ``valid`` is the last 10,000 images of ``train`` and
``train63k`` the first 63,257 (disjoint), for Goodfellow et al. 2014's Parzen protocol.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import GanforgeError
from .base import ImageSet
from .common import candidate_dirs, check_split, find_in_dirs, holdout, make_set, one_line, register

SPLITS = ("train", "test", "extra", "valid", "train63k")
FILES = {"valid": "train", "train63k": "train"}  # held-out splits of the training file


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and digit labels (N,) 0..9 from one SVHN .mat file."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as exc:
        raise GanforgeError(f"{path}: unreadable SVHN .mat file ({type(exc).__name__}: {one_line(exc)})") from None
    x, y = mat.get("X"), mat.get("y")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else "nothing"
        raise GanforgeError(f"{path}: X must be uint8 (32, 32, 3, N), got {got}")
    n = x.shape[3]
    if not isinstance(y, np.ndarray) or y.size != n or not np.issubdtype(y.dtype, np.number):
        raise GanforgeError(f"{path}: y must hold {n} labels in 1..10")
    labels = y.reshape(-1).astype(np.int64)
    if n and (labels.min() < 0 or labels.max() > 10):
        raise GanforgeError(f"{path}: y must hold {n} labels in 1..10, found {labels.min()}..{labels.max()}")
    labels[labels == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels


@register("svhn", SPLITS)
def load_svhn(split: str, root: Optional[Path]) -> ImageSet:
    """SVHN cropped digits, 32x32 RGB, 10 classes (``extra`` is the 531,131-image easier set)."""
    check_split("svhn", split, SPLITS)
    name = f"{FILES.get(split, split)}_32x32.mat"
    dirs = candidate_dirs(root, ["svhn"])
    folder = find_in_dirs(dirs, [name])
    if folder is None:
        tried = ", ".join(str(d) for d in dirs) or "no directory (no data root given)"
        raise GanforgeError(f"svhn: {name} not found (tried: {tried}); download it from "
                            "http://ufldl.stanford.edu/housenumbers/ into --data-root/GANFORGE_DATA")
    images, labels = read_svhn_mat(folder / name)
    if split in FILES:
        images, labels = holdout(images, labels, split, "svhn", folder / name)
    return make_set(images, labels, 10, f"svhn:{split}", folder / name, [str(d) for d in range(10)])
