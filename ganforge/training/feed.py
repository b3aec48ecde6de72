"""Feeding in-memory uint8 data to the model: optional resize once at load, then batches by index."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.base import ImageSet
from ..models.base import Batch, Family
from .sampler import IndexSampler


def resize_images(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinear resize of uint8 (N, C, H, W) to (N, C, size, size), rounded back to uint8, in chunks."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False,
                             antialias=size < images.shape[-1])
        out[start:start + chunk] = part.round().clamp(0, 255).to(torch.uint8)
    return out


def prepare(data: ImageSet, image_size: int | None) -> ImageSet:
    if image_size is None or image_size == data.image_size:
        return data
    return ImageSet(resize_images(data.images, image_size), data.labels, data.num_classes,
                    f"{data.name}@{image_size}px", data.source, data.class_names)


class DataFeed:
    """uint8 images kept on the training device; ``next()`` returns a :class:`Batch` for ``family``. With
    ``inputs`` (uint8, one per image: a paired task's conditioning images) batches carry them too; with a feed
    ``unpaired`` (an unpaired family's second domain, set by the loop) each batch also carries its next batch
    of images."""

    def __init__(self, data: ImageSet, sampler: IndexSampler, family: Family, device: torch.device,
                 channels_last: bool = False, inputs: torch.Tensor | None = None) -> None:
        self.images = data.images.to(device)
        self.inputs = inputs.to(device) if inputs is not None else None
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.labels = data.labels.to(device)
        self.sampler = sampler
        self.family = family
        self.unpaired: DataFeed | None = None

    def _floats(self, images: torch.Tensor) -> torch.Tensor:
        return self.family.from_uint8(images).contiguous(memory_format=self.memory_format)

    def next(self) -> Batch:
        idx = self.sampler.next().to(self.images.device)
        inputs = self._floats(self.inputs[idx]) if self.inputs is not None else None
        unpaired = self.unpaired.next().images if self.unpaired is not None else None
        return Batch(self._floats(self.images[idx]), self.labels[idx], inputs, unpaired)

    def mean_image(self) -> torch.Tensor:
        """Mean image (C, H, W) in the generator's range, for data-dependent initialisation."""
        total = torch.zeros(self.images.shape[1:], dtype=torch.float64, device=self.images.device)
        for start in range(0, self.images.shape[0], 8192):
            total += self.images[start:start + 8192].to(torch.float64).sum(0)
        return self.family.from_uint8((total / self.images.shape[0]).float())  # from_uint8 scales by 1/255
