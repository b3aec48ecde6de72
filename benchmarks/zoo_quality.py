"""The model zoo at equal budget: every preset trained for the same number of steps, then scored.

Issue 4 asks for every loss family and model; a 2-step contract test shows each one runs, this shows
each one learns. For each preset it trains ``--steps`` generator steps on ``--data`` with the preset's
own settings (plus ``--set`` overrides), samples ``--n`` images with the EMA generator (conditional
models: class i mod K) and scores them against the test split on the dataset classifier's logits (the
cheap metrics of ``eval_every``: Frechet distance of logits, classifier IS, DDM, classes hit; and for
conditional models the accuracy of the generated class). A first row scores ``--n`` real training
images the same way: the floor a perfect model would reach.

    .venv/bin/python benchmarks/zoo_quality.py                               # all presets, 1,000 steps
    .venv/bin/python benchmarks/zoo_quality.py --presets lucic-ns,lucic-lsgan --steps 3000 --out /tmp/zoo

"wall s" is training time only. Steps are generator steps, so presets with 5 critic steps (WGAN,
WGAN-GP) do 5x the discriminator work; BEGAN and the VAE have no separate critic.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ganforge
from ganforge.config import parse_override
from ganforge.evaluation import load_input, training_metrics

PRESETS = ("lucic-ns", "lucic-mm", "lucic-lsgan", "lucic-wgan", "lucic-wgangp", "lucic-dragan", "lucic-began",
           "lucic-vae", "dcgan-fashion", "cdcgan-fashion", "cdcgan-embed200", "acgan-fashion",
           "projection-fashion", "infogan-fashion")
COLUMNS = ("fd_logits", "is", "ddm", "classes_hit", "cond_acc")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default=",".join(PRESETS), help="comma list")
    p.add_argument("--steps", type=int, default=1000, help="generator steps per preset (default 1000)")
    p.add_argument("--data", default="fashion-mnist:train")
    p.add_argument("--n", type=int, default=2000, help="images scored per model (default 2000)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every preset (repeatable), e.g. --set precision=bf16")
    p.add_argument("--out", default=None, help="keep the runs here (default: a temporary directory)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    return p.parse_args()


def run_preset(preset: str, root: Path, args: argparse.Namespace, reference: str) -> dict:
    overrides = dict(parse_override(kv) for kv in args.set)
    start = time.perf_counter()
    ganforge.train(preset, root / preset, steps=args.steps, data=args.data, sample_every=10 ** 9,
                   ckpt_every=10 ** 9, log_every=max(1, args.steps // 10), eval_every=0, **overrides)
    wall = time.perf_counter() - start
    model = ganforge.load(root / preset)
    labels = torch.arange(args.n) % model.num_classes if model.conditional else None
    images = model.sample(args.n, seed=0, labels=labels)
    return {"preset": preset, "steps": args.steps, "wall_s": wall, **training_metrics(images, reference, labels=labels)}


def fmt(row: dict) -> str:
    cells = [f"{row.get(c, float('nan')):10.4g}" if c in row else f"{'-':>10}" for c in COLUMNS]
    return f"{row['preset']:20s} {row.get('steps', 0):6d} {row.get('wall_s', 0.0):8.0f} " + " ".join(cells)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reference = f"{args.data.split(':', 1)[0]}:test"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, data {args.data}, "
          f"{args.steps} steps, n = {args.n} vs {reference} (classifier logits)")
    print(f"{'preset':20s} {'steps':>6s} {'wall s':>8s} " + " ".join(f"{c:>10s}" for c in COLUMNS))
    real, _ = load_input(args.data, args.n, 1, None)  # the floor: real training images (seed 1)
    print(fmt({"preset": "(real train images)", **training_metrics(real, reference)}), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        for preset in [p for p in args.presets.split(",") if p]:
            rows.append(run_preset(preset, root, args, reference))
            print(fmt(rows[-1]), flush=True)
    print(json.dumps(rows, default=lambda x: float(np.asarray(x))))


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    main()
