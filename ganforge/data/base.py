"""The in-memory image set every loader returns, the dataset registry and the ``NAME:SPLIT`` spec.

All datasets used here fit in memory as uint8, so they are loaded once as a (N, C, H, W) uint8 tensor plus
int64 labels and batches are drawn by index (no DataLoader worker processes to fork).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from ..errors import GanforgeError
from ..registry import Registry


@dataclass
class ImageSet:
    """A labelled image set held in memory.

    Attributes:
        images: uint8 tensor (N, C, H, W).
        labels: int64 tensor (N,); -1 where a set has no labels.
        num_classes: number of classes (0 for unlabelled sets).
        name: the spec it was loaded from, e.g. ``"fashion-mnist:train"``.
        source: where the files were found (a path, or a package name).
        class_names: optional human-readable class names.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str
    source: str
    class_names: Optional[list[str]] = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise GanforgeError(
                f"{self.name}: images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise GanforgeError(f"{self.name}: {len(self.labels)} labels for {self.images.shape[0]} images")
        self.labels = self.labels.to(torch.int64)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[2]

    def subset(self, index: torch.Tensor | slice, name: str | None = None) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index], self.num_classes, name or self.name,
                        self.source, self.class_names)


# A dataset loader takes (split, data_root) and returns an ImageSet; ``data_root`` is None when the user
# gave neither --data-root nor GANFORGE_DATA.
Loader = Callable[[str, Optional[Path]], ImageSet]
DATASETS: Registry[Loader] = Registry("dataset")


def data_root(explicit: str | os.PathLike | None = None) -> Optional[Path]:
    """The user's data root: ``--data-root`` if given, else ``$GANFORGE_DATA``, else None."""
    value = explicit if explicit not in (None, "") else os.environ.get("GANFORGE_DATA")
    return Path(value).expanduser() if value else None


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"NAME:SPLIT"`` (split defaults to ``train``). Paths keep their colons only after the first."""
    name, sep, split = spec.partition(":")
    if not name:
        raise GanforgeError(f"dataset spec {spec!r} is empty (expected NAME:SPLIT, e.g. fashion-mnist:train)")
    return name, (split if sep else "train")


def test_split_of(spec: str) -> str:
    """A dataset's held-out reference: its test split (``fashion-mnist:train[:2000]`` -> ``fashion-mnist:test``)."""
    return f"{spec.split(':', 1)[0]}:test"


SLICE_RE = re.compile(r"^(?P<body>.*)\[(?P<start>\d*):(?P<stop>\d*)\]$")


def load_dataset(spec: str, root: str | os.PathLike | None = None) -> ImageSet:
    """Load ``"NAME:SPLIT"`` from the registry, e.g. ``load_dataset("fashion-mnist:test")``.

    A trailing ``[START:STOP]`` takes a slice, e.g. ``"fashion-mnist:train[:2000]"`` (the first 2,000).
    """
    match = SLICE_RE.match(spec)
    name, split = parse_spec(match.group("body") if match else spec)
    data = DATASETS.get(name)(split, data_root(root))
    if match:
        start = int(match.group("start") or 0)
        stop = int(match.group("stop") or len(data))
        if start >= stop:
            raise GanforgeError(f"dataset slice [{start}:{stop}] of {name}:{split} selects no images "
                                f"(expected START < STOP)")
        if stop > len(data):
            raise GanforgeError(f"dataset slice [{start}:{stop}] of {name}:{split} goes past its {len(data)} images")
        data = data.subset(slice(start, stop), name=spec)
    return data
