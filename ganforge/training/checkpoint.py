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
from ..fileio import atomic_path, load_weights_only

FORMAT = "ganforge-checkpoint-1"
PAYLOAD_KEYS = ("step", "config", "shape", "model")  # what loading a model reads


def save_checkpoint(path: Path, payload: dict) -> None:
    payload = dict(payload, format=FORMAT)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint; a missing, corrupt or foreign file is a one-line user error."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"checkpoint {path} does not exist")
    payload = load_weights_only(path, "checkpoint {path} cannot be read ({reason})", map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanforgeError(f"{path} is not a ganforge checkpoint (expected format {FORMAT})")
    missing = [k for k in PAYLOAD_KEYS if k not in payload]
    if missing or not isinstance(payload["config"], str) or not isinstance(payload["model"], dict):
        raise GanforgeError(f"{path} is an incomplete ganforge checkpoint (missing or malformed: "
                            f"{', '.join(missing) or 'config/model'})")
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
