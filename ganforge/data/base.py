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
    """A dataset's held-out reference: its test split, keeping class filters and dropping slices
    (``fashion-mnist:train[:2000]`` -> ``fashion-mnist:test``; ``fashion-mnist:train[class=7]`` ->
    ``fashion-mnist:test[class=7]``, so a one-class run is compared with test images of its class). A dataset
    whose "split" is a path (``npz:PATH``, ``npy:PATH``, ``folder:PATH``) has no separate test split: its held-out
    reference is the whole file or folder (``npz:a.npz[:500]`` -> ``npz:a.npz``); give another with ``--ref``."""
    body, selectors = split_selectors(spec)
    kept = "".join(f"[{s}]" for s in selectors if CLASS_RE.match(s))
    name, split = parse_spec(body)
    if name in DATASETS and getattr(DATASETS.get(name), "splits", ()) is None:
        return f"{name}:{split}{kept}"
    return f"{name}:test{kept}"


SLICE_RE = re.compile(r"^(?P<start>\d*):(?P<stop>\d*)$")
CLASS_RE = re.compile(r"^class=(?P<classes>\d+(?:,\d+)*)$")
SELECTOR_RE = re.compile(r"\[(?P<selector>[^\[\]]*)\]$")
SELECTORS_HELP = "[START:STOP] or [class=K] / [class=K,L,...]"


def split_selectors(spec: str) -> tuple[str, list[str]]:
    """``"NAME:SPLIT[sel1][sel2]"`` -> ``("NAME:SPLIT", ["sel1", "sel2"])``: the trailing bracket groups,
    applied left to right."""
    selectors: list[str] = []
    while (match := SELECTOR_RE.search(spec)) is not None and match.start() > 0:
        selectors.insert(0, match.group("selector"))
        spec = spec[:match.start()]
    return spec, selectors


def _take_slice(data: ImageSet, match: re.Match, where: str) -> ImageSet:
    start = int(match.group("start") or 0)
    stop = int(match.group("stop") or len(data))
    if start >= stop:
        raise GanforgeError(f"dataset slice [{start}:{stop}] of {where} selects no images (expected START < STOP)")
    if stop > len(data):
        raise GanforgeError(f"dataset slice [{start}:{stop}] of {where} goes past its {len(data)} images")
    return data.subset(slice(start, stop))


def _take_classes(data: ImageSet, match: re.Match, where: str) -> ImageSet:
    """The images whose label is one of the listed classes, in their original order."""
    classes = sorted({int(c) for c in match.group("classes").split(",")})
    if data.num_classes < 2:
        raise GanforgeError(f"dataset filter [{match.group(0)}] of {where}: the images have no class labels "
                            f"(expected a labelled dataset such as fashion-mnist:train)")
    bad = [c for c in classes if c >= data.num_classes]
    if bad:
        raise GanforgeError(f"dataset filter [{match.group(0)}] of {where}: class {bad[0]} does not exist "
                            f"(expected 0..{data.num_classes - 1})")
    keep = torch.isin(data.labels, torch.tensor(classes, dtype=torch.int64))
    if not bool(keep.any()):
        raise GanforgeError(f"dataset filter [{match.group(0)}] of {where} selects no images")
    return data.subset(torch.nonzero(keep).flatten())


def load_dataset(spec: str, root: str | os.PathLike | None = None) -> ImageSet:
    """Load ``"NAME:SPLIT"`` from the registry, e.g. ``load_dataset("fashion-mnist:test")``.

    Trailing selectors, applied left to right, narrow the set: ``[START:STOP]`` takes a slice
    (``"fashion-mnist:train[:2000]"``, the first 2,000) and ``[class=K]`` or ``[class=K,L]`` keeps the
    images of those classes in their order (``"fashion-mnist:train[class=7]"``, the sneakers;
    ``"fashion-mnist:train[class=7][:500]"``, the first 500 of them).
    """
    body, selectors = split_selectors(spec)
    name, split = parse_spec(body)
    data = DATASETS.get(name)(split, data_root(root))
    where = f"{name}:{split}"
    for selector in selectors:
        if (match := SLICE_RE.match(selector)) is not None:
            data = _take_slice(data, match, where)
        elif (match := CLASS_RE.match(selector)) is not None:
            data = _take_classes(data, match, where)
        else:
            raise GanforgeError(f"dataset selector [{selector}] of {where} is not one of {SELECTORS_HELP}")
        where = f"{where}[{selector}]"
    if selectors:
        data = data.subset(slice(None), name=spec)
    return data
