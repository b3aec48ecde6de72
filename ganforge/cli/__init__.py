"""Command-line interface: parsing only; each subcommand calls one library function.

Each module of this package registers its subcommands (see :mod:`.base`): ``runs`` (presets, train, sample,
data), ``scores`` (score, eval, classifier), ``pictures`` (report, viz, experiment), ``weights``
(fetch) and ``sweeps`` (sweep). Bad input anywhere (a GanforgeError) prints one line on stderr and exits with status 2, no
traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Sequence

from ..allocator import keep_freed_memory
from ..errors import GanforgeError
from . import runs, scores, pictures, weights, sweeps  # noqa: F401  (registers the subcommands, in this order)
from .base import COMMANDS, Command, Parser, command

__all__ = ["COMMANDS", "Command", "Parser", "build_parser", "command", "main", "parse_args"]


def build_parser() -> Parser:
    """The ``ganforge`` parser: one sub-parser per registered subcommand."""
    parser = Parser(prog="ganforge", description="Train, sample and evaluate generative image models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(func=cmd.run, trailing=cmd.trailing)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; words left after the options go to the subcommand's trailing list, if it has one."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.trailing:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        setattr(args, args.trailing, list(getattr(args, args.trailing)) + extra)
    return args


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"ganforge: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ganforge`` command line; 0 on success, 2 on bad input (one line on stderr), 130 on Ctrl-C."""
    warnings.showwarning = _one_line_warning  # GanforgeWarning and any other: one line, no source excerpt
    keep_freed_memory()  # large tensors reuse freed heap instead of faulting in fresh pages (ganforge.allocator)
    try:
        args = parse_args(argv)
        args.func(args)
        sys.stdout.flush()  # a reader that left fails here, inside the handlers below, not at exit
    except GanforgeError as exc:
        print(f"ganforge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ganforge presets | head`: the reader left; no traceback, none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0
