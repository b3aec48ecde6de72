"""Run by torchrun from tests/test_distributed_families.py (not a test module itself).

``python -m torch.distributed.run --nproc_per_node=2 ddp_families_helper.py OUT CASES.json`` trains, one case
after another in the same process group, a few steps of each case's tiny config through ganforge's own
``Trainer`` (``train_step``, as ``fit`` runs it, without outputs), and saves for each case and rank
``OUT/NAME.rankR.pt``: the family's state before and after the steps, the per-step logged stats, which
parameters belong to the trained networks and which of them require gradients, which buffers are the trained
networks' own (batch-norm statistics, which DDP broadcasts from rank 0 before a forward instead of reducing),
the EMA parameter of each generator parameter, the wrapper of each trained network and, for a progressively
grown family, the parameters no visited growth stage uses. A case that raises saves its traceback instead, so
the other cases still run and the test names the one that failed.

A case with ``resume_at`` K also writes checkpoints (as ``fit`` does: standing EMA statistics, then
``save_checkpoint``) after step K and after its last step, then continues a copy of the run from the step-K
checkpoint in a new ``Trainer(..., resume=True)`` to the last step; the test compares the two last checkpoints.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import traceback

import torch
import torch.distributed as dist

from ganforge.config import resolve_config
from ganforge.training.loop import Trainer


def _clone(value):
    """A deep copy of a state dict's values (tensors, and the dicts of modules' extra state)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone().cpu()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _names_in(family, modules) -> tuple[list[str], list[str]]:
    """Family-level names of the parameters and of the buffers that belong to ``modules``."""
    params = {id(p) for m in modules for p in m.parameters()}
    buffers = {id(b) for m in modules for b in m.buffers()}
    return ([n for n, p in family.named_parameters() if id(p) in params],
            [n for n, b in family.named_buffers() if id(b) in buffers])


def _ema_pairs(family) -> dict[str, str]:
    """EMA parameter name -> the family-level name of the generator parameter it averages."""
    if family.g_ema is None:
        return {}
    name_of = {id(p): n for n, p in family.named_parameters()}
    return {name_of[id(e)]: name_of[id(g)] for e, g in zip(family.g_ema.module.parameters(), family.G.parameters())}


def _used_by_growth(family, seen: set[tuple[int, float]], trained: list[str]) -> list[str]:
    """For a progressively grown family: the trained parameters that none of the visited (stage, alpha) uses."""
    used = set()
    for prefix, net in (("G.", family.G), ("D.", family.D)):
        everything = {name for name, _ in net.named_parameters()}
        for stage, alpha in seen:
            used |= {prefix + n for n in everything - net.unused_parameter_names(stage, alpha)}
    return [n for n in trained if n not in used]


def save(trainer: Trainer) -> str:
    """A checkpoint of the current step, as ``fit`` writes it; its path."""
    trainer.family.refresh_ema_bn(trainer.step, trainer.cfg.batch_size // trainer.env.world, seed=trainer.cfg.seed)
    trainer.save_checkpoint()
    return str(trainer.last_checkpoint)


def resume(out: str, name: str, cfg, checkpoint: str, steps: int) -> str:
    """Continue a new run directory holding only ``checkpoint`` to ``steps``; its last checkpoint."""
    halves = os.path.join(out, name, "halves")
    if dist.get_rank() == 0:
        os.makedirs(os.path.join(halves, "checkpoints"))
        shutil.copy(checkpoint, os.path.join(halves, "checkpoints"))
    dist.barrier()
    trainer = Trainer(cfg, halves, resume=True)
    while trainer.step < steps:
        trainer.train_step()
        trainer.step += 1
    return save(trainer)


def run_case(out: str, name: str, case: dict) -> dict:
    cfg = resolve_config(case["preset"], case["overrides"])
    trainer = Trainer(cfg, os.path.join(out, name, "straight"))
    family = trainer.family
    assert trainer.env.world == 2 and dist.get_backend() == "gloo"
    trained, local_buffers = _names_in(family, family.trainable().values())
    if family.g_ema is not None:  # the EMA's batch-norm statistics copy (or average) the live G's
        local_buffers += _names_in(family, [family.g_ema.module])[1]
    requires_grad = {n: p.requires_grad for n, p in family.named_parameters()}
    initial = _clone(family.state_dict())
    stats, seen, midway = [], set(), None
    for _ in range(case["steps"]):
        stats.append(trainer.train_step())
        trainer.step += 1
        if hasattr(family, "growth"):
            growth = family.growth()
            seen.add((growth.stage, growth.alpha))
        if trainer.step == case.get("resume_at"):
            midway = save(trainer)
    record = {"initial": initial, "after": _clone(family.state_dict()), "stats": stats, "trained": trained,
              "local_buffers": local_buffers, "requires_grad": requires_grad, "ema_of": _ema_pairs(family),
              "wrapped": {n: type(family.net(n)).__name__ for n in family.trainable()},
              "idle": _used_by_growth(family, seen, trained) if seen else []}
    if midway is not None:
        record["midway"] = midway
        record["straight"] = save(trainer)
        record["resumed"] = resume(out, name, cfg, midway, case["steps"])
    return record


def main(out: str, cases_path: str) -> None:
    with open(cases_path) as f:
        cases = json.load(f)
    for name, case in cases.items():
        try:
            record = run_case(out, name, case)
        except Exception:  # noqa: BLE001 - saved for the test to report
            record = {"error": traceback.format_exc()}
        rank = dist.get_rank() if dist.is_initialized() else 0
        torch.save(record, os.path.join(out, f"{name}.rank{rank}.pt"))
        if dist.is_initialized():
            dist.barrier()
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
