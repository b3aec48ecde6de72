"""The 8-Gaussians learning check over several seeds: steps, seconds, modes covered, high-quality share.

Issue 4: the non-saturating loss and WGAN-GP should each cover at least 6 of the 8 modes within a CPU
minute. For each loss this trains ``ganforge.toy.RECIPES[loss]`` (the settings the test uses) once per seed
and prints one row per run, then a summary per loss. "wall s" is elapsed time; "cpu s" is the CPU time
of this process (``time.process_time``), which is what "a CPU minute" means and is far less sensitive
than wall time to other jobs on a shared machine.

    .venv/bin/python benchmarks/gaussians8.py                      # ns and wgan-gp, seeds 0-4
    .venv/bin/python benchmarks/gaussians8.py --losses ns --seeds 0,1,2,3,4,5,6,7 --steps 1500
"""
from __future__ import annotations

import argparse
import time

import torch

from ganforge.toy import RECIPES, mode_coverage, recipe, train_gaussians


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--losses", default="ns,wgan-gp", help=f"comma list of recipes ({', '.join(RECIPES.names())})")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2, 3, 4], help="comma list of seeds")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's generator steps")
    p.add_argument("--min-modes", type=int, default=6, help="modes a run must cover to pass (default 6)")
    return p.parse_args()


def run_one(loss: str, seed: int, steps: int | None) -> dict:
    cfg = recipe(loss, seed=seed, **({} if steps is None else {"steps": steps}))
    wall, cpu = time.perf_counter(), time.process_time()
    points = train_gaussians(cfg)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cov = mode_coverage(points, cfg.mixture)
    return {"loss": loss, "seed": seed, "steps": cfg.steps, "d_steps": cfg.d_steps, "wall": wall, "cpu": cpu,
            "modes": cov.modes, "hq": cov.high_quality, "counts": cov.counts}


def main() -> None:
    args = parse_args()
    print(f"torch {torch.__version__}; threads per run: {recipe('ns').threads} "
          f"(machine default {torch.get_num_threads()})")
    print(f"{'loss':8} {'seed':>4} {'steps':>6} {'d_steps':>7} {'wall s':>7} {'cpu s':>6} {'modes':>5} "
          f"{'hq share':>8}  high-quality points per mode")
    rows = []
    for loss in args.losses.split(","):
        for seed in args.seeds:
            r = run_one(loss, seed, args.steps)
            rows.append(r)
            print(f"{loss:8} {seed:>4} {r['steps']:>6} {r['d_steps']:>7} {r['wall']:>7.1f} {r['cpu']:>6.1f} "
                  f"{r['modes']:>5} {r['hq']:>8.3f}  {list(r['counts'])}", flush=True)
    print()
    for loss in args.losses.split(","):
        mine = [r for r in rows if r["loss"] == loss]
        passed = sum(r["modes"] >= args.min_modes for r in mine)
        print(f"{loss:8} passed {passed}/{len(mine)} (>= {args.min_modes} modes); modes min "
              f"{min(r['modes'] for r in mine)} mean {sum(r['modes'] for r in mine) / len(mine):.1f}; "
              f"cpu s max {max(r['cpu'] for r in mine):.1f}; wall s max {max(r['wall'] for r in mine):.1f}")


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    main()
