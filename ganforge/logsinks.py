"""Where a run's log goes: a registry of log sinks, chosen by the config key ``log_to``.

Rank 0 opens every sink the config names and hands each the same things: every log record (the step and
its scalars, training statistics and ``eval_*`` metrics alike) and every fixed-noise sample grid (uint8).

    jsonl        DIR/log.jsonl, always on: resume, the curves and the report read it
    tensorboard  DIR/tensorboard/events.out.tfevents.*: the same scalars under the same names and steps, and
                 the grids as images (``torch.utils.tensorboard.SummaryWriter``; the optional ``tensorboard``
                 package, ``pip install 'ganforge[tensorboard]'``)

A sink is opened at the step training starts from (0, or the checkpoint a resume loads) and drops what a
crashed run logged after that step, since the resumed run logs those steps again: the JSONL log is
truncated, and TensorBoard's reader is told to hide the old events with ``purge_step``. So that a resume
has nothing to re-log at or before its checkpoint, the sinks are flushed before every checkpoint is saved.
Adding a sink is one registered subclass of :class:`LogSink`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Protocol

from .errors import GanforgeError
from .registry import Registry

if TYPE_CHECKING:
    import torch


class RunLog(Protocol):
    """What a sink needs of a run directory (:class:`ganforge.runs.RunDir` is one; this module sits below
    it, beside the config that names the sinks)."""

    tensorboard_dir: Path

    def truncate_log(self, step: int) -> None: ...

    def append_log(self, record: dict) -> None: ...

ALWAYS = "jsonl"  # the run directory's own log; other sinks are added to it


class LogSink:
    """One destination for a run's log records and sample grids (written on rank 0 only)."""

    @classmethod
    def check_available(cls) -> None:
        """Raise a :class:`GanforgeError` naming what to install if this sink cannot work here."""

    def __init__(self, run: RunLog, start_step: int) -> None:
        """Open the sink for a run that trains on from ``start_step``; drop what was logged after it."""

    def record(self, record: dict) -> None:
        """One log record: ``{"step": N, name: value, ...}``."""

    def image(self, tag: str, step: int, grid: "torch.Tensor") -> None:
        """A sample grid, uint8 (C, H, W), exactly the pixels of the PNG written at ``step``."""

    def flush(self) -> None:
        """Everything recorded so far on disk."""

    def close(self) -> None:
        """Flush and release the sink."""


SINKS: Registry[type[LogSink]] = Registry("log sink", base=LogSink)


@SINKS.register("jsonl")
class JsonlSink(LogSink):
    """Appends each record as one JSON line to DIR/log.jsonl (each append is written through at once)."""

    def __init__(self, run: RunLog, start_step: int) -> None:
        self.run = run
        run.truncate_log(start_step)

    def record(self, record: dict) -> None:
        self.run.append_log(record)


@SINKS.register("tensorboard")
class TensorBoardSink(LogSink):
    """TensorBoard event files in DIR/tensorboard/: numeric values as scalars, grids as images."""

    @classmethod
    def check_available(cls) -> None:
        try:
            import torch.utils.tensorboard  # noqa: F401  (raises ImportError without the tensorboard package)
        except ImportError:
            raise GanforgeError("log_to=tensorboard needs the tensorboard package, which is not installed: "
                                "pip install 'ganforge[tensorboard]' (or pip install 'tensorboard>=2.14')") from None

    def __init__(self, run: RunLog, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = run.tensorboard_dir
        _start_after_existing_files(folder)
        # The reader hides earlier events at steps >= purge_step; those up to start_step are the checkpoint's
        # and are kept (the log.jsonl truncation keeps the same ones).
        self.writer = SummaryWriter(str(folder), purge_step=start_step + 1)

    def record(self, record: dict) -> None:
        step = int(record["step"])
        for tag, value in record.items():
            if tag != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, step: int, grid: "torch.Tensor") -> None:
        self.writer.add_image(tag, grid, step, dataformats="CHW")  # uint8 is stored unscaled

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _start_after_existing_files(folder: Path) -> None:
    """Wait, if need be, until the clock is past the second of the newest event file in ``folder``.

    Readers take a folder's event files in name order, and a file's name starts with the whole second it
    was created in (then host, process id and a counter, which need not sort in time order). A resumed
    run's file must come after the crashed run's, or its purge would be read first and hide nothing; a
    resume within the same second (tests, scripts) would otherwise leave that order to chance. The wait is
    at most about a second: files stamped later than that come from a clock ahead of this one."""
    stamps = [int(s) for p in folder.glob("events.out.tfevents.*") if (s := p.name.split(".")[3]).isdigit()]
    give_up = time.time() + 1.1
    while stamps and int(time.time()) <= max(stamps) and time.time() < give_up:
        time.sleep(0.05)


def log_sinks(names: Iterable[str]) -> list[str]:
    """``names`` checked against the registry, with ``jsonl`` first and no repeats (the ``log_to`` value a
    config is resolved to)."""
    names = list(names)
    for name in names:
        if name not in SINKS:
            raise GanforgeError(f"config log_to={name!r} is not one of: {', '.join(SINKS.names())}")
    return list(dict.fromkeys([ALWAYS, *names]))


def require(names: Iterable[str]) -> None:
    """Refuse, before anything is built or written, sinks whose packages are missing."""
    for name in log_sinks(names):
        SINKS.get(name).check_available()


class LogSinks:
    """The open sinks of a run, fed together; empty on ranks other than 0."""

    def __init__(self, sinks: list[LogSink] | None = None) -> None:
        self.sinks = sinks or []

    def record(self, record: dict) -> None:
        for sink in self.sinks:
            sink.record(record)

    def image(self, tag: str, step: int, grid: "torch.Tensor") -> None:
        for sink in self.sinks:
            sink.image(tag, step, grid)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def close(self) -> None:
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            sink.close()


def open_sinks(names: Iterable[str], run: RunLog, start_step: int) -> LogSinks:
    """Open the sinks ``names`` (``jsonl`` always among them) for ``run`` training on from ``start_step``."""
    opened = LogSinks()
    try:
        for name in log_sinks(names):
            opened.sinks.append(SINKS.get(name)(run, start_step))
    except BaseException:
        opened.close()
        raise
    return opened
