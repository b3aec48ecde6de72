"""``sweep``: a hyperparameter search on Optuna (``ganforge sweep PRESET --trials N --out DIR``) and its
picture (``ganforge sweep report``). Run the first on as many machines as share the storage."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import GanforgeError
from .base import add_data_root, add_seed, command


def count(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} (expected a whole number >= {minimum})")
        return value
    return parse


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("preset", help="the preset to sweep, or `report` (then: [DIR] --storage URL --out FILE.png)")
    p.add_argument("--trials", type=count(1), default=None, help="finished trials the study should reach, "
                                                                   "counted over all its workers")
    p.add_argument("--out", default=None, help="sweep: folder of the trials' runs; report: FILE.png")
    p.add_argument("--storage", default=None, help="SQLAlchemy URL (default sqlite:///DIR/sweep.db)")
    p.add_argument("--study", default=None, help="study name (default: the preset); report: a comma list")
    p.add_argument("--space", default="lucic", help="search space (default lucic)")
    p.add_argument("--eval-n", type=count(1), default=10_000, help="images for the final FID (default 10,000)")
    p.add_argument("--features", default="inception", help="features of the final FID (default inception)")
    add_seed(p)
    p.add_argument("--pruner", default="median", help="median (default) or none")
    p.add_argument("--pruner-startup-trials", type=count(0), default=5, help="trials before pruning starts")
    p.add_argument("--pruner-warmup-steps", type=count(0), default=0, help="steps before a trial can be pruned")
    p.add_argument("--heartbeat", type=count(1), default=60, help="seconds between a worker's heartbeats")
    p.add_argument("--grace-period", type=count(1), default=None,
                   help="seconds without a heartbeat before a trial is retried (default 2 x heartbeat)")
    p.add_argument("--max-retry", type=count(0), default=3, help="retries of a trial whose worker died")
    add_data_root(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. steps=3000")


def print_trial(trial) -> None:
    """One line per trial this worker finished."""
    attrs = trial.user_attrs
    if attrs.get("surplus"):
        return
    outcome = {"COMPLETE": lambda: (f"diverged ({attrs['diverged']})" if "diverged" in attrs
                                    else f"fid {trial.value:.4g}"),
               "PRUNED": lambda: f"pruned at step {attrs.get('pruned_at', {}).get('step', '?')}"}
    text = outcome.get(trial.state.name, lambda: trial.state.name.lower())()
    print(f"trial {trial.number}: {text} ({attrs.get('run_dir', '-')})", flush=True)


def run_worker(args) -> None:
    from ..config import parse_override
    from ..sweep import SweepOptions, run_sweep

    if args.trials is None or args.out is None:
        raise GanforgeError("sweep: --trials N and --out DIR are required to run a sweep "
                            "(or: ganforge sweep report --storage URL --out FILE.png)")
    overrides = dict(parse_override(o) for o in args.overrides)
    if args.data_root:
        overrides.setdefault("data_root", args.data_root)
    options = SweepOptions(args.preset, args.trials, Path(args.out), args.storage, args.study, args.space,
                           args.eval_n, args.features, args.seed, args.pruner, args.pruner_startup_trials,
                           args.pruner_warmup_steps, args.heartbeat, args.grace_period, args.max_retry, overrides)
    done = run_sweep(options, on_trial=print_trial)
    print(f"study {done['study']!r} has {done['finished']} finished trials ({done['storage']})")


def run_report(args) -> None:
    from ..sweep import ReportOptions, write_report

    if len(args.overrides) > 1:
        raise GanforgeError(f"sweep report: expected at most one sweep folder, got {' '.join(args.overrides)}")
    folder = Path(args.overrides[0]) if args.overrides else None
    if folder is None and (args.storage is None or args.out is None):
        raise GanforgeError("sweep report: give a sweep folder DIR, or --storage URL and --out FILE.png")
    storage = args.storage or f"sqlite:///{(folder / 'sweep.db').resolve()}"
    studies = [s.strip() for s in args.study.split(",") if s.strip()] if args.study else None
    png, summary = write_report(ReportOptions(storage, Path(args.out or folder / "report.png"), studies))
    print(f"sweep report written to {png} and {summary}")


ACTIONS = {"report": run_report}  # any other first word is the preset of a sweep to run


@command("sweep", "hyperparameter search on Optuna (many workers may share one study), or `sweep report`",
         sweep_arguments, trailing="overrides")
def cmd_sweep(args) -> None:
    ACTIONS.get(args.preset, run_worker)(args)
