"""``pixels``: images flattened to [0, 1] floats, the space of Parzen windows and pixel nearest neighbours
(Goodfellow et al. 2014's Parzen protocol works on MNIST pixels in [0, 1])."""
from __future__ import annotations

import numpy as np
import torch

from .base import FEATURES, FeatureExtractor, check_images


@FEATURES.register("pixels")
class PixelFeatures(FeatureExtractor):
    name = "pixels"

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        images = check_images(images)
        self.dim = int(np.prod(images.shape[1:]))
        return images.reshape(len(images), -1).numpy().astype(np.float64) / 255.0
