"""Subcommands that compute numbers: ``score`` (two image sets), ``eval`` (a run's checkpoint, recorded in
the run) and ``classifier`` (the dataset classifier behind ``--features classifier``)."""
from __future__ import annotations

import argparse
from dataclasses import asdict

from ..errors import GanforgeError
from .base import (Parser, add_data_root, add_sampler_options, add_seed, command, describe_sampling,
                   sampler_settings)


def scoring_options(p: argparse.ArgumentParser) -> None:
    """The options ``score`` and ``eval`` share: which metrics, on which features, of how many images."""
    p.add_argument("--metrics", default=None, help="comma list (default fid,kid): fid, kid, prdc, ddm, ...; "
                   "l1, psnr, ssim for paired runs (pix2pix); cycle, target-class for unpaired runs (cyclegan); "
                   "change (with cond-acc) for modnet runs; "
                   "eval only: ais (GAN, VAE), iwae (VAE)")
    p.add_argument("--features", default=None, help="feature extractor (default: each metric's own)")
    p.add_argument("--n", type=int, default=10_000, help="images per side (default 10,000)")
    add_seed(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def print_result(result: dict, as_json: bool, written=None) -> None:
    """A metric result as one JSON object, or one ``name value`` line per number plus the protocol's gist."""
    import json

    if as_json:
        print(json.dumps(result, sort_keys=True))
        return
    for key, value in result.items():
        if key != "protocol":
            print(f"{key:<24} {value:.6g}")
    proto = result["protocol"]
    print(f"protocol: n={proto['n']} seed={proto['seed']} features={','.join(proto['features'])}")
    for spec, record in zip(proto["inputs"], proto.get("sampling", [])):
        if record:
            print(f"sampling {spec}: {describe_sampling(record)}")
    if written:
        print(f"written to {written}")


def score_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input1", help="reference: DATASET:SPLIT, image folder, .npz/.npy or run directory")
    p.add_argument("input2")
    add_data_root(p)
    scoring_options(p)


@command("score", "compare two image sets", score_arguments)
def cmd_score(args) -> None:
    from ..evaluation import check_metric_names, score

    result = score(args.input1, args.input2, check_metric_names(args.metrics), args.features, args.n,
                   args.seed, args.data_root)
    print_result(result, args.json)


def eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run")
    p.add_argument("--ref", default=None, help="reference DATASET:SPLIT (default: the run's test split)")
    p.add_argument("--direction", choices=("xy", "yx"), default="xy",
                   help="unpaired runs (cyclegan): xy scores G: X -> Y against data_target's test split (default), "
                        "yx scores F: Y -> X against data's test split; its values end in _yx and its record is "
                        "eval/step-N-yx.json")
    scoring_options(p)
    add_history_options(p)
    add_sampler_options(p)
    add_likelihood_options(p)


def step_list(text: str) -> list[int]:
    """``--at-steps``'s type: comma-separated training steps, e.g. ``1000,2000,5000``."""
    try:
        steps = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 0:
        raise argparse.ArgumentTypeError(f"invalid steps {text!r} (expected training steps such as 1000,2000)")
    return steps


def add_history_options(p: argparse.ArgumentParser) -> None:
    """Which checkpoints ``eval`` scores: the latest (default), every kept one, or chosen steps."""
    g = p.add_argument_group("history (metrics over training)")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--every-checkpoint", action="store_true",
                       help="score every kept checkpoint, reusing records that already hold the metrics")
    which.add_argument("--at-steps", type=step_list, default=None, metavar="A,B,C",
                       help="score the checkpoints of these training steps (each must be kept)")
    g.add_argument("--no-baseline", action="store_true",
                   help="with --every-checkpoint/--at-steps: skip the metrics of real training images")


def add_likelihood_options(p: argparse.ArgumentParser) -> None:
    """Settings of the likelihood metrics ``ais`` and ``iwae`` (Wu et al. 2017; Burda et al. 2016)."""
    g = p.add_argument_group("likelihood (ais, iwae)")
    g.add_argument("--ais-sigma", type=float, default=None,
                   help="a GAN's observation noise in [0, 1] pixel units (required for GANs; a VAE uses its own)")
    g.add_argument("--ais-n", type=int, default=100, help="test images, the first ones (default 100)")
    g.add_argument("--ais-steps", type=int, default=1000, help="intermediate distributions (default 1000)")
    g.add_argument("--ais-chains", type=int, default=16, help="chains per image (default 16)")
    g.add_argument("--ais-leapfrog", type=int, default=10, help="leapfrog steps per HMC move (default 10)")
    g.add_argument("--bdmc-n", type=int, default=10, help="simulated images for the BDMC bounds (0: none)")
    g.add_argument("--iwae-k", type=int, default=1000, help="importance samples of the IWAE bound (default 1000)")


def likelihood_options(args):
    from ..evaluation.likelihood import LikelihoodOptions
    from ..metrics.ais import AISConfig

    ais = AISConfig(steps=args.ais_steps, chains=args.ais_chains, leapfrog=args.ais_leapfrog, seed=args.seed)
    return LikelihoodOptions(n=args.ais_n, sigma=args.ais_sigma, ais=ais, bdmc_n=args.bdmc_n, iwae_k=args.iwae_k)


@command("eval", "score a run's latest checkpoint (or every kept one)", eval_arguments)
def cmd_eval(args) -> None:
    from ..evaluation import check_metric_names, evaluate_run

    if args.every_checkpoint or args.at_steps is not None:
        if args.direction != "xy":
            raise GanforgeError(f"--direction {args.direction} scores one checkpoint; it does not combine with "
                                f"--every-checkpoint or --at-steps yet")
        return eval_history(args)
    result, out = evaluate_run(args.run, check_metric_names(args.metrics), args.features, args.n, args.ref,
                               args.seed, sampler_settings(args), likelihood_options(args), direction=args.direction)
    print_result(result, args.json, None if args.json else out)


def _step_line(step: int, result: dict, computed: list[str]) -> str:
    values = "  ".join(f"{k} {v:.6g}" for k, v in result.items() if k != "protocol")
    return f"step {step:<8} {values}  ({'computed ' + ','.join(computed) if computed else 'from the records'})"


def eval_history(args) -> None:
    """``eval --every-checkpoint`` / ``--at-steps``: one line per checkpoint as it is done, then the baselines;
    with ``--json`` one object ``{"history": [{"step": ..., values, "protocol": ...}, ...]}``."""
    import json
    from pathlib import Path

    from ..evaluation import check_metric_names, evaluate_history

    history = evaluate_history(args.run, check_metric_names(args.metrics), args.at_steps, args.features, args.n,
                               args.ref, args.seed, sampler_settings(args), likelihood_options(args),
                               baseline=not args.no_baseline,
                               on_step=None if args.json else lambda *a: print(_step_line(*a), flush=True))
    if args.json:
        print(json.dumps({"history": [{"step": s, **r} for s, r in history]}, sort_keys=True))
        return
    lines = history[-1][1]["protocol"].get("baseline", {}) if history else {}
    for metric, line in lines.items():
        values = "  ".join(f"{k} {v:.6g}" for k, v in line["values"].items())
        print(f"baseline {metric}: {values}  ({line['key']['images']} vs {line['key']['reference']})")
    print(f"written to {Path(args.run) / 'eval'}")


def classifier_arguments(p: argparse.ArgumentParser) -> None:
    """``classifier ACTION``; ``train`` is the one action."""
    actions = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    train = actions.add_parser("train", help="train (or retrain) and cache it; prints its test accuracy")
    train.add_argument("dataset", help="a labelled dataset name, e.g. fashion-mnist")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--net", default="small-cnn",
                       help="classifier network: small-cnn (the metrics' classifier, default) or shallow (one "
                            "conv layer: the weak classifier of ModNet's interpretability experiment)")
    add_seed(train)
    add_data_root(train)


@command("classifier", "train the dataset classifier used by --features classifier", classifier_arguments)
def cmd_classifier(args) -> None:
    from ..features.classifier import ClassifierRecipe, train_classifier

    recipe = ClassifierRecipe(args.dataset, epochs=args.epochs, seed=args.seed, net=args.net)
    record = train_classifier(recipe, args.data_root)
    print(f"classifier:{args.dataset} ({args.net}) test accuracy {record['test_accuracy']:.4f} ({asdict(recipe)})")
