"""The nearest-neighbour panel: generated images beside their closest training images in pixel space.

Each row of the picture is one generated image, a small gap, then its ``k`` nearest training images
(pixels scaled to [0, 1], Euclidean distance), nearest first; the rows are the ``rows`` generated samples
closest to the training set, nearest first. It is the visual check of Goodfellow et al. 2014, Fig. 2
(rightmost column: "nearest training example of the neighboring sample") and the picture behind the
memorisation summary (:func:`ganforge.metrics.memorisation_summary`): copies of training images show up
as rows whose first neighbour is the same picture.

The search is :func:`ganforge.metrics.nearest_neighbour_distances` (exact, chunked). The picture is
composed here rather than with ``torchvision.utils.make_grid`` because it needs a gap after the first
column, and its layout (:func:`cell_origin`) is public so the picture can be read back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import metrics as M
from ..fileio import atomic_path

ROWS, K = 8, 5
PAD, GAP, BACKGROUND = 2, 6, 255


@dataclass
class NeighbourRows:
    """``generated`` (rows,) indices, nearest first; ``train`` (rows, k) indices and ``distances`` (rows, k)."""

    generated: np.ndarray
    train: np.ndarray
    distances: np.ndarray

    def to_json(self) -> list[dict]:
        return [{"generated": int(g), "train": [int(t) for t in tr], "distances": [float(d) for d in ds]}
                for g, tr, ds in zip(self.generated, self.train, self.distances)]


def pixels(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, C, H, W) -> float64 (N, C*H*W) in [0, 1], the space the panel searches."""
    return images.reshape(len(images), -1).numpy().astype(np.float64) / 255.0


def nearest_training_images(generated: torch.Tensor, train: torch.Tensor, rows: int = ROWS, k: int = K,
                            order=None) -> NeighbourRows:
    """The ``rows`` generated images nearest to ``train`` and their ``k`` nearest training images.

    ``order`` (generated indices, nearest to the training set first) skips the search over every
    generated image when the caller already has it (the memorisation summary's closest pairs in pixels).
    """
    gen_px, train_px = pixels(generated), pixels(train)
    if order is None:
        nearest, _ = M.nearest_neighbour_distances(gen_px, train_px, k=1)
        order = np.argsort(nearest[:, 0], kind="stable")
    chosen = np.asarray(order[:rows], dtype=np.int64)
    distances, index = M.nearest_neighbour_distances(gen_px[chosen], train_px, k=min(k, len(train_px)))
    return NeighbourRows(chosen, index, distances)


def cell_origin(row: int, col: int, height: int, width: int) -> tuple[int, int]:
    """(y, x) of the top-left pixel of cell (row, col); column 0 is the generated image."""
    return PAD + row * (height + PAD), PAD + col * (width + PAD) + (GAP if col > 0 else 0)


def compose(generated: torch.Tensor, train: torch.Tensor, found: NeighbourRows) -> np.ndarray:
    """The panel as uint8 (H, W) for grayscale or (H, W, 3) for colour images, on a white background."""
    channels, height, width = generated.shape[1:]
    rows, k = found.train.shape
    bottom, right = cell_origin(rows, k + 1, height, width)
    canvas = np.full((channels, bottom, right), BACKGROUND, dtype=np.uint8)  # (C, H, W)
    for r in range(rows):
        cells = [generated[found.generated[r]]] + [train[t] for t in found.train[r]]
        for c, image in enumerate(cells):
            y, x = cell_origin(r, c, height, width)
            canvas[:, y:y + height, x:x + width] = image.numpy()
    return canvas[0] if channels == 1 else canvas.transpose(1, 2, 0)


def write_png(picture: np.ndarray, path: Path) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) picture as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")
    return path
