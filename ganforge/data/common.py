"""Helpers shared by the dataset loaders: registration with a split list, split checks, file search,
a deterministic stratified split and the numpy -> :class:`ImageSet` conversion.

Reads no format itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch

from ..errors import GanforgeError
from .base import DATASETS, ImageSet, Loader

# Size of the validation split held out at the end of MNIST-style training sets (the Goodfellow et al.
# 2014 protocol: the last 10,000 of the 60,000 training images).
VALID_SIZE = 10_000


def register(name: str, splits: Optional[Sequence[str]]) -> Callable[[Loader], Loader]:
    """Register a loader under ``name`` and record its valid splits on it as ``loader.splits``.

    ``splits=None`` marks a loader whose "split" is a path (``folder``, ``npz``, ``npy``).
    """

    def decorate(fn: Loader) -> Loader:
        fn.splits = tuple(splits) if splits is not None else None  # type: ignore[attr-defined]
        return DATASETS.register(name)(fn)

    return decorate


def one_line(exc: BaseException) -> str:
    """An exception's text with all whitespace runs (including newlines) collapsed to one space."""
    return " ".join(str(exc).split())


def check_split(dataset: str, split: str, splits: Iterable[str]) -> None:
    """Raise a :class:`GanforgeError` listing the valid splits if ``split`` is not one of them."""
    splits = list(splits)
    if split not in splits:
        raise GanforgeError(f"unknown split {split!r} for dataset {dataset} (expected one of: {', '.join(splits)})")


def require_path(dataset: str, split: str) -> str:
    """The path part of a ``folder:PATH`` / ``npz:PATH`` / ``npy:PATH`` spec; an empty one is an error."""
    if not split.strip():
        raise GanforgeError(f"dataset spec {dataset}: has no path (expected {dataset}:PATH)")
    return split


def candidate_dirs(root: Optional[Path], subdirs: Sequence[str]) -> list[Path]:
    """``root`` itself then ``root/<subdir>`` for each subdir (empty when there is no root)."""
    if root is None:
        return []
    return [root] + [root / sub for sub in subdirs]


def find_in_dirs(dirs: Sequence[Path], names: Sequence[str]) -> Optional[Path]:
    """The first directory of ``dirs`` that holds every file of ``names``, or None."""
    for d in dirs:
        if all((d / n).is_file() for n in names):
            return d
    return None


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified (train, test) index arrays.

    For each class in increasing order, a ``numpy.random.RandomState(seed)`` permutation of that class's
    indices is drawn (one generator for the whole procedure); the first ``round(test_fraction * n)`` go
    to test and the rest to train. Both index arrays are returned sorted (original order).
    """
    rng = np.random.RandomState(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def holdout(images: np.ndarray, labels: np.ndarray, split: str, dataset: str, source: Path | str):
    """Apply the MNIST-style derived splits to a full training set.

    ``train`` -> all of it, ``valid`` -> the last :data:`VALID_SIZE` images, ``train50k`` -> the rest
    (the first ``len - VALID_SIZE``, i.e. 50,000 for MNIST / Fashion-MNIST).
    """
    if split == "train":
        return images, labels
    if len(images) <= VALID_SIZE:
        raise GanforgeError(f"{source}: the {dataset} training set has {len(images)} images; "
                            f"split {split!r} needs more than {VALID_SIZE}")
    cut = len(images) - VALID_SIZE
    return (images[cut:], labels[cut:]) if split == "valid" else (images[:cut], labels[:cut])


def make_set(images: np.ndarray, labels: Optional[np.ndarray], num_classes: int, name: str, source: Path | str,
             class_names: Optional[list[str]] = None) -> ImageSet:
    """Wrap uint8 numpy images (N, C, H, W) and labels (None = unlabelled, -1) into an :class:`ImageSet`;
    a set without a single pixel (no images, or images of zero size) is refused, naming it."""
    if images.size == 0:
        raise GanforgeError(f"{name}: holds no images (got shape {tuple(images.shape)}; expected at least one)")
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if not images.flags.writeable:  # np.frombuffer views are read-only; torch wants writable memory
        images = images.copy()
    if labels is None:
        labels_t = torch.full((len(images),), -1, dtype=torch.int64)
    else:
        labels_t = torch.from_numpy(np.asarray(labels).astype(np.int64, copy=False).reshape(-1))
    return ImageSet(torch.from_numpy(images), labels_t, num_classes, name, str(source), class_names)
