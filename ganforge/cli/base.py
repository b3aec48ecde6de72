"""What every subcommand module builds on: the one-line-error parser and the subcommand registry.

A subcommand is registered with :func:`command` on its run function, naming the function that adds its
arguments; ``build_parser`` (in ``ganforge.cli``) builds one sub-parser per registered entry, in
registration order, so adding a subcommand touches nothing but its own module.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import GanforgeError


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), as for every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("ganforge").strip()
        raise GanforgeError(f"{command}: {message}" if command else message)


@dataclass(frozen=True)
class Command:
    """One subcommand: its name and help line, the function adding its arguments to its sub-parser, the
    function it runs, and ``trailing``, the list argument that collects ``KEY=VALUE`` words given after
    options (argparse stops filling a trailing ``nargs="*"`` positional once an option intervenes)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]
    trailing: Optional[str] = None


COMMANDS: list[Command] = []


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None],
            trailing: Optional[str] = None) -> Callable:
    """Decorator registering the decorated function as subcommand ``name`` (a duplicate is a programming error)."""

    def register(run: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], None]:
        if any(c.name == name for c in COMMANDS):
            raise ValueError(f"subcommand {name!r} is registered twice")
        COMMANDS.append(Command(name, help, add_arguments, run, trailing))
        return run

    return register


MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed overflows above it; numpy refuses negative seeds


def seed_value(text: str) -> int:
    """``--seed``'s type: a whole number torch and numpy generators both accept."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r} (expected a whole number in 0..2**63-1)")
    return value


def add_seed(parser: argparse.ArgumentParser) -> None:
    """``--seed``, which every subcommand that draws random numbers takes."""
    parser.add_argument("--seed", type=seed_value, default=0)


def add_data_root(parser: argparse.ArgumentParser) -> None:
    """``--data-root``, which every subcommand that reads a dataset takes."""
    parser.add_argument("--data-root", default=None, help="where datasets live (else $GANFORGE_DATA)")


def add_sampler_options(parser: argparse.ArgumentParser) -> None:
    """The sampler settings of the iterative families (ddpm, flow); one-pass families refuse them."""
    group = parser.add_argument_group("sampler (ddpm, flow)")
    group.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    group.add_argument("--sampler", default=None, help="ddpm: ddim | ancestral; flow: euler | heun")
    group.add_argument("--eta", type=float, default=None, help="DDIM's eta (0: deterministic)")
    group.add_argument("--guidance", type=float, default=None, help="classifier-free guidance weight w")


def sampler_settings(args: argparse.Namespace) -> dict:
    """The sampler settings given on the command line, for ``TrainedModel.sample``."""
    return {k: getattr(args, k) for k in ("steps", "sampler", "eta", "guidance") if getattr(args, k) is not None}


def describe_sampling(record: dict) -> str:
    """One line of what sampling ran: the sampler and steps (iterative families), network evaluations per image
    and the wall time."""
    how = f"{record['sampler']}, {record['steps']} steps: " if "sampler" in record else ""
    took = f", {record['seconds']:.1f} s" if "seconds" in record else ""
    return f"{how}{record['nfe_per_image']} network evaluation{'s' * (record['nfe_per_image'] != 1)} per image{took}"
