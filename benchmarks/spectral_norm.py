"""Spectral normalisation's cost in a GAN training step: ganforge's output-scaled layers against torch's
weight parametrization (``torch.nn.utils.parametrizations.spectral_norm``) and against no normalisation.

Times ``Trainer.train_step`` of a preset (default ``fashion-fast``: the Lucic et al. nets with a spectrally
normalised D) three ways, alternating them ``--repeats`` times and keeping each one's best, and prints seconds
per step and images per second:

* ``ganforge``: the preset as it trains (``ganforge.nets.spectral``);
* ``torch``: the same D with torch's parametrization applied to every Conv/Linear layer instead;
* ``none``: ``model.spectral_norm=false``.

    .venv/bin/python benchmarks/spectral_norm.py --steps 30 --repeats 3

Run it on an otherwise idle machine; other load shows up in the numbers.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.config import resolve_config
from ganforge.nets.tweaks import weight_layers
from ganforge.training.loop import Trainer

QUIET = {"sample_every": 10 ** 9, "ckpt_every": 10 ** 9, "eval_every": 0, "log_every": 10 ** 9}


def build(preset: str, variant: str, data: str, folder: str) -> Trainer:
    """A Trainer of ``preset`` whose D is normalised the ``variant`` way."""
    over = {**QUIET, "data": data, "model.spectral_norm": variant == "ganforge"}
    trainer = Trainer(resolve_config(preset, over), folder)
    if variant == "torch":
        for layer in weight_layers(trainer.family.D):
            spectral_norm(layer)  # the weight Parameter moves under layer.parametrizations: D's optimiser keeps it
    return trainer


def seconds_per_step(trainer: Trainer, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        trainer.train_step()
        trainer.step += 1
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
        trainer.step += 1
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fashion-fast")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", default="fashion-mnist:train[:4096]")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, preset {args.preset}")
    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for variant in ("ganforge", "torch", "none"):
                trainer = build(args.preset, variant, args.data, f"{tmp}/{variant}-{repeat}")
                seconds = seconds_per_step(trainer, args.steps, args.warmup)
                best[variant] = min(best.get(variant, seconds), seconds)
    batch = trainer.cfg.batch_size * trainer.cfg.d_steps
    for variant, seconds in best.items():
        print(f"{variant:>9}: {seconds:.3f} s/step, {batch / seconds:.0f} images/s")


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    main()
