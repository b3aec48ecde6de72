"""Checkpoints: one dict of state_dicts and RNG states, saved atomically, loaded with weights_only=True.

Never a pickled module: loading cannot run code from the file (torch.load(..., weights_only=True)).
The payload records the resolved config so a checkpoint from another model is recognised before its
weights are applied.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import GanforgeError
from ..fileio import atomic_path

FORMAT = "ganforge-checkpoint-1"


def save_checkpoint(path: Path, payload: dict) -> None:
    payload = dict(payload, format=FORMAT)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint; a missing, corrupt or foreign file is a one-line user error."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/corrupt/foreign files
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"checkpoint {path} cannot be read ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanforgeError(f"{path} is not a ganforge checkpoint (expected format {FORMAT})")
    return payload


def checkpoint_config(payload: dict) -> dict:
    return json.loads(payload["config"])


def load_model_state(module: torch.nn.Module, state: dict, path: Path) -> None:
    """load_state_dict(strict) with a one-line message when the checkpoint is for another model."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:200]
        raise GanforgeError(f"checkpoint {path} does not fit this model ({first})") from None
