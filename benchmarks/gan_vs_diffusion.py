"""GAN against diffusion and flow matching at equal training time, under one metric protocol.

Each family's preset (default: the GAN ``fashion-fast``, ``ddpm-fashion``, ``flow-fashion``) trains for the
largest of ``--minutes`` (default 15 30 60) of training time, with a checkpoint every ``--every`` minutes
(``ckpt_every_min``). At each budget the checkpoint that closes it (the first at or past it) is scored: Inception FID and KID of
``--n`` samples (the EMA weights where the preset keeps them) against ``--n`` test images, and precision /
recall / density / coverage (``prdc``) on the same features, with the network evaluations per image and the
sampling seconds per 10,000 images from the eval record's protocol. At the largest budget the iterative
families (``ddpm``, ``flow``) are also scored at each of ``--sampler-steps`` (FID against sampling steps);
the sweep's point at the model's own step count is that budget's point, not sampled a second time.

Resumable at both ends, like ``time_to_fid.py``: a run continues training until its budget is spent, points
already in ``--out`` are not scored again, and the JSON (points plus protocol: presets, n, features, machine,
threads) is rewritten after every point. ``--only ddpm`` restricts a pass to one family and ``--train-only``
trains without scoring, so a long measurement can be split over sessions or machines (train on the idle
machine, score later); ``--plot`` draws the figure from the JSON and writes its table beside it (``.md``).

    .venv/bin/python benchmarks/gan_vs_diffusion.py --minutes 15 30 60
    .venv/bin/python benchmarks/gan_vs_diffusion.py --plot --png benchmarks/results/gan_vs_diffusion.png

Wall minutes are comparable only between families trained on the same, otherwise idle, machine.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure

import ganforge
from ganforge.config import parse_override
from ganforge.errors import GanforgeError
from ganforge.evaluation import evaluate_run
from ganforge.experiments.lucic_table import machine
from ganforge.fileio import write_json, write_text
from ganforge.models import FAMILIES
from ganforge.plots import save_figure
from ganforge.runs import RunDir
from ganforge.training.checkpoint import load_checkpoint

DEFAULT_PRESETS = {"gan": "fashion-fast", "ddpm": "ddpm-fashion", "flow": "flow-fashion"}
METRICS = ["fid", "kid", "prdc"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("overrides", nargs="*", metavar="[LABEL:]KEY=VALUE",
                   help="config overrides for every family, or for one with a LABEL: prefix (flow:batch_size=128)")
    p.add_argument("--presets", default=",".join(f"{k}={v}" for k, v in DEFAULT_PRESETS.items()),
                   help="LABEL=PRESET,... (default %(default)s)")
    p.add_argument("--only", default=None, help="train and score only these labels (comma separated)")
    p.add_argument("--minutes", type=float, nargs="+", default=[15.0, 30.0, 60.0], help="training-time budgets")
    p.add_argument("--every", type=float, default=None, help="checkpoint interval in minutes (default: the "
                   "smallest budget)")
    p.add_argument("--sampler-steps", type=int, nargs="*", default=[10, 20, 50, 100],
                   help="sampler steps scored at the largest budget for the iterative families")
    p.add_argument("--n", type=int, default=10_000, help="generated and test images per score")
    p.add_argument("--features", default="inception")
    p.add_argument("--seed", type=int, default=0, help="sampling seed of the scored images")
    p.add_argument("--root", default="runs/gan-vs-diffusion", help="where the runs are trained")
    p.add_argument("--out", default="benchmarks/results/gan_vs_diffusion.json")
    p.add_argument("--train-only", action="store_true", help="train to the largest budget and score nothing: "
                   "training needs an idle machine, scoring does not, so the two can run in different sessions")
    p.add_argument("--plot", action="store_true", help="draw --out into --png instead of measuring")
    p.add_argument("--png", default="benchmarks/results/gan_vs_diffusion.png")
    return p.parse_intermixed_args(argv)


def presets(args: argparse.Namespace) -> dict[str, str]:
    """The families measured, as {label: preset}, restricted by ``--only``."""
    pairs = [item.split("=", 1) for item in args.presets.split(",") if item]
    if any(len(p) != 2 or not all(p) for p in pairs):
        raise GanforgeError(f"--presets {args.presets!r}: expected LABEL=PRESET,... (e.g. gan=fashion-fast)")
    chosen = dict(pairs)
    only = [o for o in (args.only or "").split(",") if o]
    unknown = sorted(set(only) - set(chosen))
    if unknown:
        raise GanforgeError(f"--only {','.join(unknown)}: not a label of --presets (expected some of "
                            f"{', '.join(chosen)})")
    return {k: v for k, v in chosen.items() if not only or k in only}


def split_overrides(words: list[str], labels: list[str]) -> dict[str, dict]:
    """``KEY=VALUE`` words for every label and ``LABEL:KEY=VALUE`` words for one, as {label: overrides}."""
    common, own = {}, {label: {} for label in labels}
    for word in words:
        head, sep, rest = word.partition(":")
        if sep and "=" not in head:
            if head not in own:
                raise GanforgeError(f"override {word!r}: {head!r} is not a label of --presets (expected one of "
                                    f"{', '.join(labels)})")
            own[head].update([parse_override(rest)])
        else:
            common.update([parse_override(word)])
    return {label: {**common, **own[label]} for label in labels}


def train(preset: str, run: Path, minutes: float, every: float, overrides: dict) -> None:
    """Train (or continue) ``run`` until ``minutes`` of training time, a checkpoint every ``every``."""
    budget = {"max_minutes": minutes, "ckpt_every_min": every, "keep_checkpoints": 10_000,
              "steps": overrides.pop("steps", 10_000_000), "ckpt_every": overrides.pop("ckpt_every", 10_000_000)}
    ganforge.train(preset, run, resume=RunDir(run).latest_checkpoint() is not None, **budget, **overrides)


def at_budgets(run: Path, budgets: list[float]) -> dict[float, tuple[Path, float]]:
    """For each budget (minutes), the checkpoint that closes it, with its training time: the first one at or
    past the budget (a time checkpoint is written on the first step past each multiple of ``--every``, and
    the run stops on the first step past its largest budget), so each point is the budget plus at most one
    step. A budget the run has not reached has no point yet."""
    timed = [(path, float(load_checkpoint(path).get("train_seconds", float("nan"))) / 60)
             for _, path in RunDir(run).checkpoints()]
    chosen = {}
    for budget in budgets:
        past = [(p, m) for p, m in timed if m >= budget]
        if past:
            chosen[budget] = past[0]
    return chosen


def score_point(run: Path, checkpoint: Path, args: argparse.Namespace, sampler: dict) -> dict:
    """FID, KID and precision/recall of one checkpoint's samples, with what sampling them cost."""
    result, record = evaluate_run(run, METRICS, args.features, args.n, None, args.seed, sampler or None,
                                  checkpoint=checkpoint)
    sampling = result["protocol"]["sampling"][1] or {}
    seconds = sampling.get("seconds")
    values = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {**values, "step": result["protocol"]["step"], "checkpoint": checkpoint.name, "record": str(record),
            "nfe_per_image": sampling.get("nfe_per_image"), "sampler": sampling.get("sampler"),
            "sampler_steps": sampling.get("steps"),
            "sampling_seconds_per_10k": None if seconds is None else round(seconds * 10_000 / args.n, 1)}


def points_to_score(label: str, run: Path, args: argparse.Namespace) -> list[tuple[str, Path, float, float, dict]]:
    """(key, checkpoint, budget, minutes, sampler) of each point of one family: every budget at the
    model's own sampler, then the sampler-step sweep at the largest budget for an iterative family."""
    chosen = at_budgets(run, args.minutes)
    todo = [(f"{label}@{b:g}min", path, b, m, {}) for b, (path, m) in chosen.items()]
    family = RunDir(run).read_config()["model"]["family"]
    top = max(args.minutes)
    if FAMILIES.get(family).iterative and top in chosen:
        path, minutes = chosen[top]
        todo += [(f"{label}@{top:g}min/{s}steps", path, top, minutes, {"steps": s}) for s in args.sampler_steps]
    return todo


def own_steps(run: Path) -> int | None:
    """The sampler steps a run uses when none are asked for (``model.options.sample_steps``), if any."""
    return RunDir(run).read_config()["model"].get("options", {}).get("sample_steps")


def measure(args: argparse.Namespace) -> Path:
    out, chosen = Path(args.out), presets(args)
    overrides = split_overrides(args.overrides, list(chosen))
    old = json.loads(out.read_text()) if out.exists() else {}
    same = {k: old.get("protocol", {}).get(k) for k in ("n", "features", "seed")} == \
        {"n": args.n, "features": args.features, "seed": args.seed}
    points = {p["key"]: p for p in old.get("points", [])} if same else {}
    before = old.get("protocol", {}) if same else {}
    protocol = {"presets": {**before.get("presets", {}), **chosen}, "overrides": {**before.get("overrides", {}), **overrides},
                "minutes": args.minutes, "n": args.n, "features": args.features, "seed": args.seed,
                "reference": "the dataset's test split", "metrics": METRICS, "machine": machine()}
    for label, preset in chosen.items():
        run = Path(args.root) / label
        train(preset, run, max(args.minutes), args.every or min(args.minutes), dict(overrides[label]))
        if args.train_only:
            continue
        own = own_steps(run)
        for key, path, budget, minutes, sampler in points_to_score(label, run, args):
            if key in points:
                continue
            same = f"{label}@{budget:g}min"  # the sweep at the run's own step count is that budget's point
            if sampler.get("steps") == own and same in points:
                points[key] = {**points[same], "key": key}
                continue
            point = score_point(run, path, args, sampler)
            points[key] = {"key": key, "family": label, "preset": preset, "budget_minutes": budget,
                           "train_minutes": round(minutes, 2), **point}
            write_json(out, {"points": sorted(points.values(), key=lambda p: p["key"]), "protocol": protocol})
            print(f"{key}: FID {point['fid']:.2f}, {point['nfe_per_image']} NFE/image, "
                  f"{point['sampling_seconds_per_10k']} s per 10k samples")
    if not args.train_only:
        write_json(out, {"points": sorted(points.values(), key=lambda p: p["key"]), "protocol": protocol})
    return out


def plot(path: Path, png: str) -> None:
    """FID against training minutes (one line per family, each at its own sampler) and, for the iterative
    families, FID against sampling steps at the largest budget (a one-pass family's last budget drawn there
    as a dashed line)."""
    data = json.loads(path.read_text())
    fig = Figure(figsize=(10, 3.8))
    by_time, by_steps = fig.subplots(1, 2)
    if not data["points"]:
        raise GanforgeError(f"{path}: no scored points yet (no checkpoint within a budget)")
    for label in sorted({p["family"] for p in data["points"]}):
        own = sorted((p for p in data["points"] if p["family"] == label and "/" not in p["key"]),
                     key=lambda p: p["train_minutes"])
        by_time.plot([p["train_minutes"] for p in own], [p["fid"] for p in own], marker="o",
                     label=f"{label} ({own[0]['preset']})" if own else label)
        sweep = sorted((p for p in data["points"] if p["family"] == label and "/" in p["key"]),
                       key=lambda p: p["sampler_steps"])
        if sweep:
            by_steps.plot([p["sampler_steps"] for p in sweep], [p["fid"] for p in sweep], marker="o",
                          label=f"{label} ({sweep[0]['sampler']})")
        elif own and own[-1]["nfe_per_image"] == 1:  # a one-pass family: its last budget, as a reference line
            by_steps.axhline(own[-1]["fid"], linestyle="--", color=by_time.lines[-1].get_color(),
                             label=f"{label} at {own[-1]['budget_minutes']:g} min (1 evaluation)")
    by_time.set_xlabel("training minutes")
    by_steps.set_xlabel("sampling steps (largest budget)")
    by_steps.set_xscale("log")
    for ax in (by_time, by_steps):
        ax.set_ylabel(f"FID ({data['protocol']['n']} vs test, {data['protocol']['features']})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, png)


COLUMNS = [("FID", "fid", "{:.2f}"), ("KID", "kid", "{:.4f}"), ("precision", "precision", "{:.2f}"),
           ("recall", "recall", "{:.2f}"), ("density", "density", "{:.2f}"), ("coverage", "coverage", "{:.2f}"),
           ("NFE/image", "nfe_per_image", "{}"), ("s per 10k samples", "sampling_seconds_per_10k", "{}")]


def table(data: dict) -> str:
    """The points as a Markdown table, one row per family and budget, then its step sweep (the sweep's point
    at the model's own steps is the budget's row and is not repeated); the default labels first (gan, ddpm,
    flow), then others by name."""
    families = list(DEFAULT_PRESETS)

    def order(p):
        rank = families.index(p["family"]) if p["family"] in families else len(families)
        return rank, p["family"], p["budget_minutes"], "/" in p["key"], p["sampler_steps"] or 0
    head = ["family (preset)", "budget", "trained min", "step", "sampler"] + [c[0] for c in COLUMNS]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    seen = set()
    for p in sorted(data["points"], key=order):
        same = (p["family"], p["budget_minutes"], p["checkpoint"], p["sampler"], p["sampler_steps"])
        if same in seen:
            continue
        seen.add(same)
        sampler = "one pass" if p["sampler"] is None else f"{p['sampler']} {p['sampler_steps']} steps"
        cells = [f"{p['family']} ({p['preset']})", f"{p['budget_minutes']:g} min", f"{p['train_minutes']:.1f}",
                 f"{p['step']:,}", sampler] + [fmt.format(p[key]) for _, key, fmt in COLUMNS]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.plot:
            if not Path(args.out).is_file():
                raise GanforgeError(f"{args.out}: no result file to plot (run the measurement first)")
            plot(Path(args.out), args.png)
            markdown = Path(args.png).with_suffix(".md")
            write_text(markdown, table(json.loads(Path(args.out).read_text())))
            print(f"wrote {args.png} and {markdown}")
        else:
            out = measure(args)
            print(f"trained {', '.join(presets(args))}; nothing scored (--train-only)" if args.train_only
                  else f"wrote {out}")
    except GanforgeError as exc:
        print(f"gan_vs_diffusion: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from ganforge.allocator import keep_freed_memory

    keep_freed_memory()  # the allocator setting the CLI uses
    sys.exit(main())
