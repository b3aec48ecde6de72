"""Time to quality: FID against minutes of training (and images seen) for a preset, on this machine.

Training runs under a time budget (``max_minutes``) with a checkpoint every ``--every`` minutes of training
time (``ckpt_every_min``); only training is timed, scoring happens afterwards. Each checkpoint's generator
(its EMA if the preset keeps one) gives ``--n`` samples, scored by FID against ``--n`` images of the test
split (Inception features by default: 10,000 vs 10,000 as in Lucic et al. 2018). Resumable at both ends:
an existing ``--run`` continues training until the budget is spent, and points already in ``--out`` are
not scored again. The JSON (points plus protocol: config, n, features, machine, threads) is rewritten
after every point; ``--plot`` draws one or more such files.

    .venv/bin/python benchmarks/time_to_fid.py lucic-ns --minutes 60 --every 10 \\
        --out benchmarks/results/time_to_fid-lucic-ns.json
    .venv/bin/python benchmarks/time_to_fid.py --plot benchmarks/results/time_to_fid-*.json --png curve.png

``KEY=VALUE`` words after the preset are config overrides (e.g. ``precision=bf16``). The preset's ``steps``
are lifted so the budget decides, except where a linear learning-rate decay is counted in them. Wall minutes are only
comparable between runs on the same, otherwise idle, machine: the protocol records the CPU and threads.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import ganforge
from ganforge.config import parse_override, resolve_config
from ganforge.errors import GanforgeError
from ganforge.evaluation import score
from ganforge.experiments.lucic_table import machine
from ganforge.fileio import atomic_path, write_json
from ganforge.plots import save_figure
from ganforge.runs import RunDir
from ganforge.training.checkpoint import load_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset", nargs="?")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--minutes", type=float, default=60.0, help="training-time budget")
    p.add_argument("--every", type=float, default=10.0, help="minutes of training between scored checkpoints")
    p.add_argument("--run", default=None, help="run directory (default runs/time-to-fid/PRESET)")
    p.add_argument("--n", type=int, default=10_000, help="generated and test images per FID")
    p.add_argument("--features", default="inception")
    p.add_argument("--seed", type=int, default=0, help="sampling seed of the scored images")
    p.add_argument("--out", default=None, help="JSON (default benchmarks/results/time_to_fid-PRESET.json)")
    p.add_argument("--plot", nargs="+", default=None, metavar="JSON", help="draw these result files instead")
    p.add_argument("--png", default="benchmarks/results/time_to_fid.png", help="where --plot draws")
    return p.parse_intermixed_args(argv)


def budget_steps(preset: str, overrides: dict) -> int:
    """The step cap under the time budget: lifted out of reach so the minutes decide, unless a ``linear``
    learning-rate schedule is measured in the run's ``steps`` (``fashion-fast-decay``): lifting those would
    stretch the decay past the budget, so the preset's count stays. A ``steps=N`` override always wins."""
    if "steps" in overrides:
        return int(overrides["steps"])
    cfg = resolve_config(preset, overrides)
    if "linear" in (cfg.g_opt.lr_schedule, cfg.d_opt.lr_schedule):
        return cfg.steps
    return 10_000_000


def train(preset: str, run: Path, minutes: float, every: float, overrides: dict) -> None:
    """Train (or continue) ``run`` until ``minutes`` of training time, a checkpoint every ``every``."""
    budget = {"max_minutes": minutes, "ckpt_every_min": every, "keep_checkpoints": 10_000,
              "steps": budget_steps(preset, overrides), "ckpt_every": overrides.pop("ckpt_every", 10_000_000)}
    overrides.pop("steps", None)
    resume = RunDir(run).latest_checkpoint() is not None
    ganforge.train(preset, run, resume=resume, **budget, **overrides)


def score_point(run: Path, checkpoint: Path, args: argparse.Namespace, reference: str) -> dict:
    """FID of one checkpoint's samples against the test split, with its training time and images seen."""
    payload = load_checkpoint(checkpoint)
    model = ganforge.load(run, checkpoint=checkpoint)
    cfg = model.config
    samples = run / "time-to-fid" / f"{checkpoint.stem}.npz"
    samples.parent.mkdir(exist_ok=True)
    with atomic_path(samples) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, images=model.sample(args.n, seed=args.seed).permute(0, 2, 3, 1).numpy())
    result = score(reference, str(samples), ["fid"], args.features, args.n, args.seed, cfg.data_root)
    samples.unlink()
    return {"step": int(payload["step"]), "minutes": round(float(payload.get("train_seconds", float("nan"))) / 60, 3),
            "images_seen": int(payload["step"]) * cfg.batch_size * cfg.d_steps, "fid": result["fid"],
            "checkpoint": checkpoint.name, "fid_protocol": result["protocol"]}


def scoring_order(checkpoints: list[Path]) -> list[Path]:
    """The last checkpoint first (the budget's answer), then the rest in training order: a 10k FID costs
    about a quarter of an hour on 2 cores, so a stopped scoring pass should still have the final point."""
    return checkpoints[-1:] + checkpoints[:-1]


def measure(args: argparse.Namespace) -> Path:
    overrides = dict(parse_override(o) for o in args.overrides)
    run = Path(args.run or f"runs/time-to-fid/{args.preset}")
    out = Path(args.out or f"benchmarks/results/time_to_fid-{args.preset}.json")
    train(args.preset, run, args.minutes, args.every, dict(overrides))
    config = RunDir(run).read_config()
    reference = config["data"].split(":")[0] + ":test"
    old = json.loads(out.read_text()) if out.exists() else {}
    protocol = {"preset": args.preset, "overrides": overrides, "minutes": args.minutes, "every": args.every,
                "n": args.n, "features": args.features, "seed": args.seed, "reference": reference,
                "config": config, "machine": machine(), "run": str(run)}
    keep = old.get("protocol", {}).get("n") == args.n and old.get("protocol", {}).get("features") == args.features
    points = {p["checkpoint"]: p for p in old.get("points", [])} if keep else {}
    for path in scoring_order([path for _, path in RunDir(run).checkpoints()]):
        if path.name not in points:
            points[path.name] = score_point(run, path, args, reference)
            ordered = sorted(points.values(), key=lambda p: p["step"])
            write_json(out, {"points": ordered, "protocol": protocol})
            print(f"{path.name}: {points[path.name]['minutes']:.1f} min, FID {points[path.name]['fid']:.2f}")
    return out


def plot(files: list[str], png: str) -> None:
    """FID against training minutes and against images seen, one line per result file."""
    fig = Figure(figsize=(10, 3.8))
    by_time, by_images = fig.subplots(1, 2)
    for name in files:
        data = json.loads(Path(name).read_text())
        pts = data["points"]
        label = data["protocol"]["preset"] + "".join(f" {k}={v}" for k, v in data["protocol"]["overrides"].items())
        by_time.plot([p["minutes"] for p in pts], [p["fid"] for p in pts], marker="o", label=label)
        by_images.plot([p["images_seen"] / 1e6 for p in pts], [p["fid"] for p in pts], marker="o", label=label)
    for ax, xlabel in ((by_time, "training minutes"), (by_images, "images seen by D (millions)")):
        for level, style in ((15, ":"), (12, "--")):
            ax.axhline(level, color="gray", ls=style, lw=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("FID (10k vs 10k test)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, png)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.plot:
            plot(args.plot, args.png)
            print(f"wrote {args.png}")
        elif not args.preset:
            raise GanforgeError("give a PRESET to measure or --plot JSON ...")
        else:
            print(f"wrote {measure(args)}")
    except GanforgeError as exc:
        print(f"time_to_fid: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    sys.exit(main())
