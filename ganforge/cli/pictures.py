"""Subcommands that draw and write up: ``report`` (one HTML file of runs), ``viz`` (a picture of a model's
latent space) and ``experiment`` (how metrics react to controlled damage; the Lucic et al. table)."""
from __future__ import annotations

import argparse

from .base import add_data_root, add_seed, command


def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="run directories, or experiment output folders (or their NAME.json)")
    p.add_argument("--out", required=True, help="FILE.html")


@command("report", "one self-contained HTML report of runs and experiment outputs", report_arguments)
def cmd_report(args) -> None:
    from ..report import build_report

    print(f"report written to {build_report(args.runs, args.out)}")


def viz_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run")
    p.add_argument("kind", help="interpolate | class-sweep | manifold (2-d VAE) | codes (InfoGAN) | pyramid (LAPGAN)")
    p.add_argument("--out", required=True, help="FILE.png")
    add_seed(p)
    p.add_argument("--rows", type=int, default=8, help="latent points (rows)")
    p.add_argument("--steps", type=int, default=10, help="columns of an interpolation, manifold or code sweep")
    p.add_argument("--path", default="spherical", help="interpolate: linear or spherical")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--raw", action="store_true", help="use the raw generator instead of its EMA")


@command("viz", "pictures of a model: interpolate, class-sweep, manifold, codes, pyramid", viz_arguments)
def cmd_viz(args) -> None:
    from ..viz import VizOptions, make_picture

    options = VizOptions(seed=args.seed, rows=args.rows, steps=args.steps, path=args.path, use_ema=not args.raw)
    print(f"{args.kind} written to {make_picture(args.run, args.kind, args.out, options, args.checkpoint)}")


# Kept literal so that building the parser does not import every experiment (and torch); a test checks it
# against the experiment registry.
EXPERIMENT_NAMES_HELP = ("ais-sigma | corruptions | ddm-ranking | embeddings | lucic-table | missing-modes | "
                         "modnet-augment | modnet-interpret | modnet-memorisation | parzen-vs-quality")


def experiment_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help=EXPERIMENT_NAMES_HELP)
    p.add_argument("dataset", help="a labelled dataset, e.g. fashion-mnist")
    p.add_argument("--out", required=True, help="directory for NAME.json and NAME.png")
    p.add_argument("--metrics", default=None, help="comma list (default: the experiment's own)")
    p.add_argument("--features", default=None)
    p.add_argument("--n", type=int, default=None,
                   help="images per set (default: the experiment's own, e.g. lucic-table 10000)")
    p.add_argument("--rows", default=None, help="table experiments: comma list of rows, e.g. ns,wgan "
                                                "(lucic-table) or weak,strong (modnet-interpret); default: all")
    add_seed(p)
    add_data_root(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="table experiments: config overrides for every row")


@command("experiment", "metric experiments (missing modes, corruptions), the Lucic et al. table, ModNet's",
         experiment_arguments, trailing="overrides")
def cmd_experiment(args) -> None:
    from ..config import parse_override
    from ..evaluation import check_metric_names
    from ..experiments import ExperimentOptions, run_experiment

    rows = [r.strip() for r in args.rows.split(",") if r.strip()] if args.rows is not None else None
    options = ExperimentOptions(args.dataset, args.out, check_metric_names(args.metrics), args.features, args.n,
                                args.seed, args.data_root, rows, dict(parse_override(o) for o in args.overrides))
    written = run_experiment(args.name, options).get("written", args.out)
    print(f"{args.name} written to {', '.join(map(str, written)) if isinstance(written, list) else written}")
