"""A history of generated images for the discriminator (Shrivastava et al. 2017, "Learning from Simulated and
Unsupervised Images through Adversarial Training", section 2.3), as CycleGAN uses it (Zhu et al. 2017,
"Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks", section 4: "we update the
discriminators using a history of generated images rather than the ones produced by the latest generators.
We keep an image buffer that stores the 50 previously created images").

The rule, image by image, as the authors' ``ImagePool``: while the pool holds fewer than ``size`` images, the
new image is stored and returned; once full, with probability 1/2 a uniformly chosen stored image is returned
and the new one takes its place, otherwise the new image is returned and the pool is unchanged. ``size`` 0
returns every batch unchanged.

The pool draws from its own ``torch.Generator``; its contents and that generator's state are the module's extra
state (:meth:`get_extra_state`), so a family's ``state_dict`` (and so a checkpoint) carries them and a resumed
run continues with the same pool.

Under torchrun :meth:`query_global` is the pool of the whole global batch: every process gathers all
processes' images (in rank order), queries its pool with them and keeps its own share of the answer. Every
process then holds the same pool, as one process training on the global batch would, so the pool rank 0
saves in a checkpoint is every rank's.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import nn

from ..errors import GanforgeError


class ImagePool(nn.Module):
    """``query(images) -> images``: the batch D sees instead of the newest fakes (module docstring)."""

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        super().__init__()
        if size < 0:
            raise GanforgeError(f"image pool size must be at least 0, got {size}")
        self.size = size
        self.gen = torch.Generator().manual_seed(seed)
        self.images: Optional[torch.Tensor] = None  # (M, C, H, W), M <= size, detached copies

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """The batch (N, C, H, W) to show D for the newest generated ``images`` (N, C, H, W)."""
        if self.size == 0:
            return images.detach()
        images = images.detach()
        if self.images is not None and self.images.device != images.device:
            self.images = self.images.to(images.device)
        out = []
        for image in images:  # (C, H, W)
            if len(self) < self.size:
                stored = image.clone()[None]
                self.images = stored if self.images is None else torch.cat([self.images, stored])
                out.append(image)
            elif float(torch.rand((), generator=self.gen)) < 0.5:
                i = int(torch.randint(self.size, (), generator=self.gen))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)  # (N, C, H, W)

    def query_global(self, images: torch.Tensor) -> torch.Tensor:
        """:meth:`query` for this process's share (N, C, H, W) of a batch split evenly over the torch.distributed
        processes: the pool takes the whole batch, so it stays the same on every process (module docstring).
        Outside torch.distributed it is :meth:`query`."""
        if self.size == 0 or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self.query(images)
        parts = [torch.empty_like(images) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, images.detach().contiguous())
        n, rank = images.shape[0], dist.get_rank()
        return self.query(torch.cat(parts))[rank * n:(rank + 1) * n]  # (N, C, H, W)

    def get_extra_state(self) -> dict[str, Any]:
        images = self.images.cpu().clone() if self.images is not None else torch.empty(0)
        return {"images": images, "rng": self.gen.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        images = state["images"]
        self.images = images.clone() if images.numel() else None
        self.gen.set_state(state["rng"])
