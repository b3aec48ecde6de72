"""CIFAR-10 from the "CIFAR-10 python version" batches (https://www.cs.toronto.edu/~kriz/cifar.html):
``data_batch_1`` .. ``data_batch_5`` (``train``, 50,000) and ``test_batch`` (``test``, 10,000), in
``ROOT/cifar-10-batches-py/`` or ``ROOT/`` itself, plus optional ``batches.meta`` for the class names.
``valid`` is the last 10,000 training images and ``train40k`` the first 40,000 (disjoint), so Goodfellow et
al. 2014's Parzen protocol (sigma chosen on held-out training images) runs here as on MNIST.

Each batch is a pickled dict with ``b"data"`` (N, 3072) uint8 rows, channel-major (1,024 red, then green,
then blue values, each row-major 32x32) and ``b"labels"`` (N ints in 0..9).

The files are unpickled with :class:`NumpyOnlyUnpickler`, which only resolves numpy's array
reconstruction functions (and a latin-1-only ``_codecs.encode``), so a crafted file cannot run code.
"""
from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import GanforgeError
from .base import ImageSet
from .common import candidate_dirs, check_split, find_in_dirs, holdout, make_set, one_line, register

SPLITS = ("train", "test", "valid", "train40k")
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
BATCHES = {"train": TRAIN, "valid": TRAIN, "train40k": TRAIN, "test": ["test_batch"]}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles written by Python 3 use it for bytes: latin-1 only."""
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin-1", errors)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The (module, name) pairs a CIFAR batch may reference, mapped to the objects they resolve to."""
    core = getattr(np, "_core", None) or np.core
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                           ("_codecs", "encode"): _latin1_encode}
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        allowed[(f"{mod}.numeric", "_frombuffer")] = core.numeric._frombuffer  # pickle protocol 5
    return allowed


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds plain containers and numpy arrays and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed_globals().get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        return obj


def load_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`NumpyOnlyUnpickler` (``encoding="bytes"``); errors name the file."""
    try:
        with open(path, "rb") as f:
            return NumpyOnlyUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise GanforgeError(f"{path}: not a safe CIFAR pickle ({one_line(exc)})") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise GanforgeError(f"{path}: unreadable or truncated pickle ({type(exc).__name__}: {one_line(exc)})") from None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    batch = load_pickle(path)
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise GanforgeError(f"{path}: b'data' must be a uint8 (N, 3072) array, got {got}")
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise GanforgeError(f"{path}: b'labels' must be a list of {len(data)} ints in 0..9") from None
    if len(labels) != len(data) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise GanforgeError(f"{path}: b'labels' must be a list of {len(data)} ints in 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def read_class_names(folder: Path) -> list[str]:
    """The names in ``batches.meta`` (``b"label_names"``) if present, else the standard CIFAR-10 names."""
    meta_path = folder / "batches.meta"
    if not meta_path.is_file():
        return list(CIFAR10_CLASSES)
    meta = load_pickle(meta_path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise GanforgeError(f"{meta_path}: expected b'label_names', a list of 10 class names")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


@register("cifar10", SPLITS)
def load_cifar10(split: str, root: Optional[Path]) -> ImageSet:
    """CIFAR-10, 32x32 RGB, 10 classes, from the python batches under the data root."""
    check_split("cifar10", split, SPLITS)
    dirs = candidate_dirs(root, ["cifar-10-batches-py"])
    dirs = dirs[1:] + dirs[:1]  # the standard sub-folder first, then the root itself
    folder = find_in_dirs(dirs, BATCHES[split])
    if folder is None:
        tried = ", ".join(str(d) for d in dirs) or "no directory (no data root given)"
        raise GanforgeError(f"cifar10: {', '.join(BATCHES[split])} not found (tried: {tried}); download "
                            "cifar-10-python.tar.gz and extract it under --data-root/GANFORGE_DATA")
    parts = [read_batch(folder / name) for name in BATCHES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if split != "test":
        images, labels = holdout(images, labels, split, "cifar10", folder)
    return make_set(images, labels, 10, f"cifar10:{split}", folder, read_class_names(folder))
