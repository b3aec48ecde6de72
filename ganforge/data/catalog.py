"""``describe_datasets``: which named datasets and splits can be loaded here, where from, and their shape.

Reads nothing itself; it calls each registered loader (path-based ones -- ``folder``, ``npz``, ``npy``
-- are skipped since they have no fixed splits). Used by ``ganforge data``.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import GanforgeError
from .base import DATASETS, data_root


def describe_datasets(root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per (named dataset, split), in name order.

    Each row has ``name``, ``split``, ``found`` (bool), ``source`` (where it was loaded from, or None),
    ``error`` (the one-line reason it could not be loaded, or None), ``count``, ``shape`` (``"CxHxW"``)
    and ``num_classes`` (the last three None when not found). ``root`` is resolved like ``--data-root``
    (falling back to ``$GANFORGE_DATA``). Every split is loaded in full (about a second for
    Fashion-MNIST).
    """
    resolved = data_root(root)
    if resolved is not None and not resolved.is_dir():
        raise GanforgeError(f"data root {resolved} is not a folder (expected --data-root or GANFORGE_DATA to "
                            "name the folder that holds the datasets)")
    rows: list[dict[str, Any]] = []
    for name, loader in DATASETS.items():
        splits = getattr(loader, "splits", ("train",))
        for split in splits or ():
            row: dict[str, Any] = {"name": name, "split": split, "found": False, "source": None,
                                   "error": None, "count": None, "shape": None, "num_classes": None}
            try:
                images = loader(split, resolved)
            except GanforgeError as exc:
                row["error"] = str(exc)
            else:
                c, h, w = images.images.shape[1:]
                row.update(found=True, source=images.source, count=len(images), shape=f"{c}x{h}x{w}",
                           num_classes=images.num_classes)
            rows.append(row)
    return rows
