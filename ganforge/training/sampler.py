"""Batches drawn by index from an in-memory dataset, with exactly resumable state.

Each epoch is a fresh permutation of all n indices from the sampler's own ``torch.Generator`` (so model
RNG use never shifts the data order). Under DDP every rank draws the same permutation and the global batch
``perm[pos:pos + world * batch_size]`` is dealt out rank by rank (rank r takes every world-th index from
offset r), so ranks see disjoint shards. An epoch uses the first ``n // world * world`` indices: every rank
gets the same ``n // world`` indices and the same number of batches, and ``epochs_done`` is the same number
on every rank (epoch-based schedules must not differ between ranks). Incomplete final batches are dropped.

The state (generator, epoch, position, the whole permutation) is the same on every rank, so the one
checkpoint rank 0 writes restores every rank's own shard, and it also fits another number of processes
with the same global batch.
"""
from __future__ import annotations

import warnings

import torch


class IndexSampler:
    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if n // world < batch_size:
            raise ValueError(f"{n} images cannot fill a batch of {batch_size} on each of {world} processes")
        self.n, self.batch_size, self.rank, self.world = n, batch_size, rank, world
        self.usable = n // world * world  # indices of an epoch's permutation that are dealt out
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch = -1
        self.pos = 0  # indices of the epoch's permutation consumed by all ranks together
        self.perm = torch.empty(0, dtype=torch.int64)  # (n,) the whole permutation, identical on every rank

    def _new_epoch(self) -> None:
        self.perm = torch.randperm(self.n, generator=self.gen)
        self.epoch += 1
        self.pos = 0

    def next(self) -> torch.Tensor:
        """This rank's indices of the next batch, shape (batch_size,)."""
        step = self.batch_size * self.world  # the global batch
        if self.epoch < 0 or self.pos + step > self.usable:
            self._new_epoch()
        idx = self.perm[self.pos + self.rank:self.pos + step:self.world]
        self.pos += step
        return idx

    def epochs_done(self) -> float:
        """Fractional epochs seen so far (for epoch-based schedules); the same on every rank."""
        if self.epoch < 0:
            return 0.0
        return self.epoch + self.pos / self.usable

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "epoch": self.epoch, "pos": self.pos, "perm": self.perm.clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state saved by any rank; this rank then continues with its own shard."""
        self.gen.set_state(state["gen"])
        self.epoch, self.pos, self.perm = int(state["epoch"]), int(state["pos"]), state["perm"].clone()
        if self.epoch >= 0 and len(self.perm) != self.n:
            # older checkpoints of distributed runs kept only rank 0's shard (or the data changed):
            # the other ranks' rest of this epoch cannot be recovered, so start the next epoch
            warnings.warn(f"the checkpoint's data order holds {len(self.perm)} of {self.n} indices; "
                          f"starting the next epoch", stacklevel=2)
            self.pos = self.usable
