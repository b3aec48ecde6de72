"""The self-describing run directory.

    DIR/config.json           the resolved RunConfig (written atomically at start)
    DIR/log.jsonl             one JSON object per log interval: step, losses, D outputs, lrs, images/s
    DIR/samples/step-N.png    fixed-noise sample grids (same z every time, from the run's seed)
    DIR/checkpoints/step-N.pt models, EMA, optimisers, data-sampler position and RNG states
    DIR/curves.png            losses and D outputs over training
    DIR/tensorboard/          TensorBoard event files (with ``log_to=tensorboard``)
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

from .config import ModelConfig, RunConfig, from_dict
from .errors import GanforgeError
from .fileio import write_json, write_text

CKPT_RE = re.compile(r"^step-(\d+)\.pt$")


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config_path = self.root / "config.json"
        self.log_path = self.root / "log.jsonl"
        self.samples_dir = self.root / "samples"
        self.ckpt_dir = self.root / "checkpoints"
        self.curves_path = self.root / "curves.png"
        self.tensorboard_dir = self.root / "tensorboard"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every checkpoint, oldest first."""
        if not self.ckpt_dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.ckpt_dir.iterdir() if (m := CKPT_RE.match(p.name))]
        return sorted(found)

    def latest_checkpoint(self) -> Optional[Path]:
        ckpts = self.checkpoints()
        return ckpts[-1][1] if ckpts else None

    def checkpoint_path(self, step: int) -> Path:
        return self.ckpt_dir / f"step-{step:07d}.pt"

    def checkpoint_at(self, step: int) -> Path:
        """The kept checkpoint of training step ``step``; a user error naming the kept steps when there is none
        (pruned by ``keep_checkpoints``, or never written)."""
        kept = dict(self.checkpoints())
        if step not in kept:
            steps = ", ".join(map(str, kept)) or "none"
            raise GanforgeError(f"{self.root} has no checkpoint at step {step} (kept steps: {steps})")
        return kept[step]

    def grid_path(self, step: int) -> Path:
        return self.samples_dir / f"step-{step:07d}.png"

    def prune_checkpoints(self, keep: int) -> None:
        for _, path in self.checkpoints()[:-keep]:
            path.unlink(missing_ok=True)

    def read_config(self) -> dict:
        """The run's config.json as a dict, checked to be a valid :class:`~ganforge.config.RunConfig`
        (a JSON object with known keys and values of the right types), so nothing reads a broken one."""
        if not self.config_path.is_file():
            raise GanforgeError(f"{self.root} is not a ganforge run directory (no config.json)")
        try:
            data = json.loads(self.config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GanforgeError(f"{self.config_path} is not valid JSON ({getattr(exc, 'msg', exc)})") from None
        if not isinstance(data, dict):
            raise GanforgeError(f"{self.config_path} is not a run config (expected a JSON object, got "
                                f"{type(data).__name__})")
        try:
            from_dict(RunConfig, data)
        except GanforgeError as exc:
            raise GanforgeError(f"{self.config_path}: {exc}") from None
        return data

    def check_checkpoint_model(self, model: ModelConfig, checkpoint: Path) -> None:
        """Refuse a checkpoint whose model config (as saved in it) is not this run's: a checkpoint of
        another model copied into the run. Runs without config.json are not checked."""
        if self.config_path.is_file() and from_dict(RunConfig, self.read_config()).model != model:
            raise GanforgeError(f"checkpoint {checkpoint} is not from this run: its model config differs from "
                                f"{self.config_path}")

    def write_config(self, config: dict) -> None:
        write_json(self.config_path, config)

    def read_log(self) -> list[dict]:
        """The log's records; a line cut short by a crash (or otherwise not a JSON object) is skipped."""
        if not self.log_path.is_file():
            return []
        rows = []
        for line in self.log_path.read_bytes().decode("utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def append_log(self, record: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def truncate_log(self, step: int) -> None:
        """Drop log records after ``step`` (on resume, so the log matches the checkpoint)."""
        rows = [r for r in self.read_log() if r.get("step", 0) <= step]
        write_text(self.log_path, "".join(json.dumps(r) + "\n" for r in rows))
