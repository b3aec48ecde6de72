"""Feature-extractor registry: images (uint8, N x C x H x W) -> feature vectors (N, D) float64.

Extractors are registered classes; ``get_extractor(name)`` builds one. Each exposes ``name``, ``dim`` and
``weights_hash`` (recorded in every evaluation protocol and in cache keys) and ``__call__`` on a batch.
``extract(extractor, images, batch_size)`` runs any extractor over a large set in batches.
"""
from __future__ import annotations

import abc

import numpy as np
import torch

from ..errors import GanforgeError
from ..registry import Registry


class FeatureExtractor(abc.ABC):
    """Base class: call on uint8 images (N, C, H, W) to get float64 features (N, dim)."""

    name: str = ""
    dim: int = 0
    weights_hash: str = "none"

    @abc.abstractmethod
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """Features of one batch."""

    def protocol(self) -> dict:
        return {"extractor": self.name, "dim": self.dim, "weights_sha1": self.weights_hash}


FEATURES: Registry[type[FeatureExtractor]] = Registry("feature extractor", base=FeatureExtractor)


def check_images(images: torch.Tensor, where: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GanforgeError(f"{where}: expected uint8 (N, C, H, W) with C in (1, 3), "
                            f"got {images.dtype} {tuple(images.shape)}")
    return images


def extract(extractor: FeatureExtractor, images: torch.Tensor, batch_size: int = 200) -> np.ndarray:
    """Features of every image, computed ``batch_size`` at a time (the result does not depend on it)."""
    images = check_images(images)
    parts = [extractor(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, extractor.dim))
