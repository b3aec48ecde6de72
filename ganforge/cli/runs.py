"""Subcommands that make and use runs: ``presets``, ``train``, ``sample`` and ``data`` (the datasets runs
train on)."""
from __future__ import annotations

import argparse
import json
import os

from .base import add_data_root, add_sampler_options, add_seed, command, describe_sampling, sampler_settings


def presets_arguments(p: argparse.ArgumentParser) -> None:
    """``presets`` takes no arguments."""


@command("presets", "list the named presets", presets_arguments)
def cmd_presets(args) -> None:
    from ..config import preset_description, preset_names

    for name in preset_names():
        print(f"{name:<18} {preset_description(name)}")


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("preset")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    add_data_root(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. steps=3000")


@command("train", "train a preset into a run directory", train_arguments, trailing="overrides")
def cmd_train(args) -> None:
    from ..api import resolve_run_config, train
    from ..config import parse_override, to_dict

    overrides = dict(parse_override(o) for o in args.overrides)
    if args.data_root:
        overrides.setdefault("data_root", args.data_root)
    if args.dry_run:
        cfg = resolve_run_config(args.preset, args.out, args.resume, overrides)
        print(json.dumps(to_dict(cfg), indent=2))
        return
    out = train(args.preset, args.out, resume=args.resume, **overrides)
    if int(os.environ.get("RANK", "0")) == 0:  # once, not per torchrun process
        print(f"run written to {out}")


def sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run")
    p.add_argument("--n", type=int, default=64)
    add_seed(p)
    p.add_argument("--out", required=True, help="FILE.png (grid) or FILE.npz (uint8 (N,H,W,C) 'images')")
    p.add_argument("--class", dest="class_id", type=int, default=None, help="class for conditional models")
    p.add_argument("--checkpoint", default=None, help="a specific checkpoint (default: the latest)")
    p.add_argument("--raw", action="store_true", help="use the raw generator instead of its EMA")
    p.add_argument("--draw", action="store_true", help="VAE: Bernoulli draws of the pixels, not their means")
    add_sampler_options(p)


@command("sample", "sample a trained run to a PNG grid or an .npz", sample_arguments)
def cmd_sample(args) -> None:
    from ..sampling import write_samples_recorded

    out, record = write_samples_recorded(args.run, args.n, args.seed, args.out, class_id=args.class_id,
                                         use_ema=not args.raw, checkpoint=args.checkpoint, draw=args.draw,
                                         sampler=sampler_settings(args))
    print(f"wrote {args.n} samples to {out} ({describe_sampling(record)})")


@command("data", "list datasets: where each was found, counts and shapes", add_data_root)
def cmd_data(args) -> None:
    from ..data import describe_datasets

    rows = describe_datasets(args.data_root)
    for row in rows:
        if row["found"]:
            print(f"{row['name'] + ':' + row['split']:<24} {row['count']:>7} x {row['shape']:<9} "
                  f"{row['num_classes']:>3} classes  {row['source']}")
        else:
            print(f"{row['name'] + ':' + row['split']:<24} not found: {row['error']}")
