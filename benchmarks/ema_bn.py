"""Which batch-norm statistics should the EMA generator sample with? A measured answer on ``quickstart``.

The EMA generator averages G's weights. Its batch-norm layers need running statistics too, and there are
two candidates: ``averaged`` -- the EMA of the live network's running statistics (what torch's
AveragedModel(use_buffers=True) keeps), which were measured on *other* weights -- and ``standing`` -- the
statistics recomputed for the averaged weights over fresh latents (Brock et al. 2019, "Large Scale GAN
Training for High Fidelity Natural Image Synthesis"; ganforge's default, ``ema_bn=standing``).

Training never reads the EMA's statistics, so one run serves both: it trains with ``ema_bn=averaged``
(keeping the averaged statistics), then the same EMA weights are scored with those statistics and again
after ``refresh_ema_bn``; the live generator is scored too. Each is ``--n`` samples against ``--n``
test images, by Inception FID (``--features inception``) and by the Frechet distance of the Fashion-MNIST
classifier's logits. Resumable: an existing ``--run`` is continued (or reused when it reached
``--steps``); the result is written to ``--out`` as JSON with its protocol.

    .venv/bin/python benchmarks/ema_bn.py --run runs/ema-bn --steps 4000 --n 5000
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import ganforge
from ganforge.evaluation import score
from ganforge.fileio import write_json
from ganforge.runs import RunDir


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/ema-bn", help="run directory (created or continued)")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--precision", default="bf16", help="bf16 (the preset's) or fp32 (CPUs without avx512_bf16)")
    p.add_argument("--n", type=int, default=5000, help="samples and test images per score")
    p.add_argument("--metrics-features", default="inception,classifier", help="comma list of feature sets")
    p.add_argument("--out", default="benchmarks/results/ema_bn.json")
    return p.parse_args()


def train(run: Path, steps: int, precision: str) -> None:
    checkpoints = RunDir(run).checkpoints()
    if checkpoints and checkpoints[-1][0] >= steps:
        return
    ganforge.train("quickstart", run, resume=bool(checkpoints), steps=steps, ema_bn="averaged",
                   precision=precision, ckpt_every=500, sample_every=1000)


def variants(model, n: int) -> dict[str, np.ndarray]:
    """uint8 (N, H, W, C) samples of the live G, the EMA with averaged and with standing statistics."""
    def draw(use_ema: bool):
        return model.sample(n, seed=1, use_ema=use_ema).permute(0, 2, 3, 1).numpy()

    out = {"live": draw(False), "ema_averaged": draw(True)}
    model.family.ema_bn = "standing"
    model.family.refresh_ema_bn(model.step, model.config.batch_size, seed=model.config.seed)
    out["ema_standing"] = draw(True)
    return out


def main() -> None:
    args = parse_args()
    run = Path(args.run)
    train(run, args.steps, args.precision)
    model = ganforge.load(run)
    table: dict[str, dict] = {}
    protocols = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, images in variants(model, args.n).items():
            path = Path(tmp) / f"{name}.npz"
            np.savez(path, images=images)
            table[name] = {}
            for features in args.metrics_features.split(","):
                result = score("fashion-mnist:test", str(path), ["fid"], features, n=args.n)
                table[name][f"fid[{features}]"] = result["fid"]
                protocols[features] = result["protocol"]["features"]
            print(name, json.dumps(table[name]), flush=True)
    write_json(args.out, {"run": str(run), "step": model.step, "preset": "quickstart", "n": args.n,
                          "results": table, "protocol": {"reference": "fashion-mnist:test", "sample_seed": 1,
                                                         "features": protocols, "training": f"quickstart, {args.precision}, ema_bn=averaged; then the same "
                                                         "EMA weights with standing statistics"}})


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    main()
