"""torchrun / DistributedDataParallel helpers: gloo on CPU, NCCL on GPU.

``torchrun --nproc_per_node=K -m ganforge train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; the same
command without torchrun runs as a single process. Only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

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


def init_distributed(device_name: str) -> tuple[DistEnv, torch.device]:
    """Start the process group when launched by torchrun; return the env and this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    device = pick_device(device_name, env.local_rank)
    if env.active and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
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
