"""Atomic file writes (a temporary file in the target's folder, then ``os.replace``) and safe reads of
PyTorch weights files.

A crash or Ctrl-C mid-write never leaves a half-written checkpoint, grid or record behind, and whatever
was there before stays intact until the new file is complete. A target that is an existing folder is a
user error before anything is written.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import GanforgeError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    if path.is_dir():
        raise GanforgeError(f"{path} is a folder (expected a file name to write)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise GanforgeError(f"cannot write {path}: a file stands where its folder should be") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def cache_dir() -> Path:
    """Where downloaded weights, trained classifiers and cached features live: ``$GANFORGE_CACHE`` or
    ``~/.cache/ganforge``."""
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge")).expanduser()


def sha1_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What torch.load raises for empty, truncated, foreign or unsafe files (it has no error type of its own).
TORCH_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, KeyError, IndexError,
                     TypeError, AttributeError, struct.error)


def load_weights_only(path: str | os.PathLike, message: str = "{path}: not a readable PyTorch weights file ({reason})",
                      map_location="cpu"):
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, so nothing in
    the file can run code. An empty, truncated, garbage or pickled-object file raises a one-line
    :class:`GanforgeError`, ``message`` filled with ``path`` and the reason (torch's own warnings about
    such files are silenced: the error says it all)."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except TORCH_LOAD_ERRORS as exc:
        raise GanforgeError(message.format(path=path, reason=_load_reason(exc))) from None


def _load_reason(exc: BaseException) -> str:
    """The useful words of a torch.load error: for a refused pickle, which instruction or global was refused."""
    text = " ".join(str(exc).split())
    if isinstance(exc, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation")[0].split(". ")[0]
        return f"not tensors only, refused without unpickling: {detail.strip()[:120]}"
    if isinstance(exc, EOFError) or not text:
        return "empty or cut short"
    return f"truncated or not a PyTorch file: {type(exc).__name__}: {text.split('. ')[0][:120]}"
