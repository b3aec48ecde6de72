"""torchrun / DistributedDataParallel helpers: gloo on CPU, NCCL on GPU.

``torchrun --nproc_per_node=K -m ganforge train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; the same
command without torchrun runs as a single process. Only rank 0 writes files.

Every collective (DDP's gradient all-reduce, a barrier) fails once it has waited longer than the
process-group timeout. Work that rank 0 does alone (sample grids, evaluation, writing a checkpoint) can take
longer than that, so the other ranks wait for it in :func:`wait_for_main`, which polls the process group's
key-value store and has no time limit.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import time
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist

from ..errors import GanforgeError


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("device=cuda was asked for but no CUDA device is available (use device=cpu or auto)")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device_name: str, timeout_min: float = 30.0) -> tuple[DistEnv, torch.device]:
    """Start the process group when launched by torchrun; return the env and this process's device.

    ``timeout_min`` is how long a collective may wait for the other ranks before it fails."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    device = pick_device(device_name, env.local_rank)
    if env.active and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=timeout_min))
    return env, device


def any_rank(flags: torch.Tensor, env: DistEnv) -> tuple[torch.Tensor, list[int]]:
    """Boolean ``flags`` (K,) OR-ed over all ranks, and the ranks that set any flag (one small all-reduce).

    Every rank gets the same answer, so all of them can take the same decision (e.g. stop together)."""
    mine = torch.zeros(env.world, device=flags.device)
    mine[env.rank] = float(flags.any())
    total = torch.cat([flags.float(), mine])  # (K + world,)
    if env.active:
        dist.all_reduce(total)
    return total[:len(flags)] > 0, [r for r in range(env.world) if total[len(flags) + r] > 0]


@contextlib.contextmanager
def wait_for_main(env: DistEnv, key: str, poll_max_s: float = 1.0) -> Iterator[None]:
    """Around work only rank 0 does: on leaving, the other ranks wait until rank 0 has finished, however long.

    Rank 0 sets ``key`` in the process group's store when its work is done (or failed); the others poll it
    (a store read, no collective, so no timeout) with waits growing to ``poll_max_s``, then every rank meets
    at a barrier, which returns at once, before rank 0 can go on (and possibly exit, taking the store with it).
    If rank 0's work raised, the other ranks raise a GanforgeError naming it. ``key`` must be new each time.
    """
    if not env.active:
        yield
        return
    store = dist.distributed_c10d._get_default_store()  # the store torchrun's rendezvous set up
    key = f"ganforge/main-done/{key}"
    try:
        yield
    except BaseException as exc:
        if env.is_main:
            store.set(key, f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        raise
    if env.is_main:
        store.set(key, "ok")
    else:
        pause = 0.01
        while not store.check([key]):
            time.sleep(pause)
            pause = min(2 * pause, poll_max_s)
        status = store.get(key).decode()
        if status != "ok":
            raise GanforgeError(f"rank 0 stopped ({key.rsplit('/', 1)[-1]}): {status[len('error: '):]}")
    dist.barrier()


def gather_objects(obj, env: DistEnv) -> list:
    """Every rank's ``obj`` as a list indexed by rank (just [obj] when not distributed)."""
    if not env.active:
        return [obj]
    out = [None] * env.world
    dist.all_gather_object(out, obj)
    return out


def barrier(env: DistEnv) -> None:
    if env.active:
        dist.barrier()


def shutdown(env: DistEnv) -> None:
    if env.active and dist.is_initialized():
        dist.destroy_process_group()
