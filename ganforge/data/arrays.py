"""``npz:PATH`` and ``npy:PATH``: images saved with numpy (``np.savez`` / ``np.save``), and
:func:`load_images`, which accepts a plain path (.npz, .npy or a folder) or a ``NAME:SPLIT`` spec.

Images must be uint8 shaped (N, H, W, C) with C in {1, 3} or (N, H, W) (grayscale); they become
(N, C, H, W). A .npz file holds them under the key ``images`` (or as its only array) and may hold
``labels``, N integers >= -1 (-1 = unlabelled). Files are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import GanforgeError
from .base import DATASETS, ImageSet, data_root, load_dataset, parse_spec
from .common import make_set, one_line, register, require_path
from .folder import load_folder_path

EXPECTED = "uint8 (N,H,W,C) or (N,H,W)"


def to_nchw(images: np.ndarray, path: Path) -> np.ndarray:
    """uint8 (N, H, W, C) with C in {1, 3} or (N, H, W) -> (N, C, H, W); anything else names ``path``."""
    ok = isinstance(images, np.ndarray) and images.dtype == np.uint8 and (
        images.ndim == 3 or (images.ndim == 4 and images.shape[3] in (1, 3)))
    if not ok:
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise GanforgeError(f"{path}: images must be {EXPECTED} with C 1 or 3, got {got}")
    return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)


def _check_labels(labels: np.ndarray, n: int, path: Path) -> np.ndarray:
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (n,) or (n and labels.min() < -1):
        raise GanforgeError(f"{path}: labels must be {n} integers >= -1 shaped ({n},), "
                            f"got {labels.dtype} {labels.shape}")
    return labels.astype(np.int64)


def _np_load(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise GanforgeError(f"{path}: file not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GanforgeError(f"{path}: unreadable numpy file or pickled objects ({one_line(exc)})") from None


def load_npz_path(path: str | Path) -> ImageSet:
    """Load images (key ``images`` or the only array) and optional ``labels`` from a .npz file."""
    path = Path(path).expanduser()
    data = _np_load(path)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise GanforgeError(f"{path}: not a .npz archive (expected np.savez output; use npy: for .npy files)")
    with data:
        keys = list(data.keys())
        key = "images" if "images" in keys else (keys[0] if len(keys) == 1 else None)
        if key is None:
            raise GanforgeError(f"{path}: no 'images' array (expected key 'images' or a single array; "
                                f"found: {', '.join(keys) or 'nothing'})")
        try:
            images, labels = data[key], (data["labels"] if "labels" in keys and key != "labels" else None)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise GanforgeError(f"{path}: unreadable array in .npz ({one_line(exc)})") from None
    images = to_nchw(images, path)
    if labels is None:
        return make_set(images, None, 0, f"npz:{path}", path)
    labels = _check_labels(labels, len(images), path)
    return make_set(images, labels, int(labels.max(initial=-1)) + 1, f"npz:{path}", path)


def load_npy_path(path: str | Path) -> ImageSet:
    """Load unlabelled images from a .npy file."""
    path = Path(path).expanduser()
    images = _np_load(path)
    if not isinstance(images, np.ndarray):
        raise GanforgeError(f"{path}: not a .npy array (expected np.save output; use npz: for .npz files)")
    return make_set(to_nchw(images, path), None, 0, f"npy:{path}", path)


@register("npz", None)
def load_npz(split: str, root: Optional[Path]) -> ImageSet:
    """Registry entry for ``npz:PATH`` (the split part of the spec is the path)."""
    return load_npz_path(require_path("npz", split))


@register("npy", None)
def load_npy(split: str, root: Optional[Path]) -> ImageSet:
    """Registry entry for ``npy:PATH`` (the split part of the spec is the path)."""
    return load_npy_path(require_path("npy", split))


def load_images(path_or_spec: str | os.PathLike, root: str | os.PathLike | None = None) -> ImageSet:
    """Load images from an existing path (.npz, .npy or a folder) or else a ``NAME:SPLIT`` dataset spec."""
    path = Path(path_or_spec).expanduser()
    if path.is_dir():
        return load_folder_path(path, data_root(root))
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return load_npz_path(path)
        if suffix == ".npy":
            return load_npy_path(path)
        raise GanforgeError(f"{path}: unsupported file type {suffix or '(none)'} (expected .npz, .npy or a folder)")
    spec = os.fspath(path_or_spec)
    if isinstance(path_or_spec, str) and parse_spec(spec)[0] in DATASETS:
        return load_dataset(spec, root)
    raise GanforgeError(f"{spec}: no such file or folder, and not a dataset spec "
                        f"(expected a .npz/.npy file, a folder, or NAME:SPLIT with NAME one of: "
                        f"{', '.join(DATASETS.names())})")
