"""Batches drawn by index from an in-memory dataset, with exactly resumable state.

Each epoch is a fresh permutation from the sampler's own ``torch.Generator`` (so model RNG use never
shifts the data order); under DDP every rank draws the same permutation and takes every world-th index,
so ranks see disjoint shards. Incomplete final batches are dropped.
"""
from __future__ import annotations

import torch


class IndexSampler:
    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if n // world < batch_size:
            raise ValueError(f"{n} images cannot fill a batch of {batch_size} on each of {world} processes")
        self.n, self.batch_size, self.rank, self.world = n, batch_size, rank, world
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch = -1
        self.pos = 0
        self.perm = torch.empty(0, dtype=torch.int64)

    def _new_epoch(self) -> None:
        self.perm = torch.randperm(self.n, generator=self.gen)[self.rank::self.world]
        self.epoch += 1
        self.pos = 0

    def next(self) -> torch.Tensor:
        """Indices of the next batch, shape (batch_size,)."""
        if self.pos + self.batch_size > len(self.perm):
            self._new_epoch()
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def epochs_done(self) -> float:
        """Fractional epochs seen so far (for epoch-based schedules)."""
        if self.epoch < 0:
            return 0.0
        return self.epoch + self.pos / max(1, len(self.perm))

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "epoch": self.epoch, "pos": self.pos, "perm": self.perm.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.epoch, self.pos, self.perm = int(state["epoch"]), int(state["pos"]), state["perm"].clone()
