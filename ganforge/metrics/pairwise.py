"""Input checks and the chunked squared-distance generator shared by every pairwise metric.

Hand-written because no maintained library here does it: ``scipy.spatial.distance.cdist`` and
``torch.cdist`` build the whole N x M matrix (10,000 x 10,000 float64 is 800 MB, and Parzen windows
need one per data set), and scikit-learn's ``pairwise_distances_chunked`` is not a dependency of ganforge.
The generator yields one ``chunk x M`` block of squared Euclidean distances at a time,

    D[i, j] = ||x_i||^2 + ||y_j||^2 - 2 x_i . y_j   (clamped at 0),

computed in float64 with a single matrix multiply per block (``torch.addmm``) after subtracting the mean
of ``y`` from both sets (which leaves distances unchanged and shrinks the norms that cancel), so the peak
extra memory is ``chunk * M * 8`` bytes plus a centred copy of ``y``, and the result for a row does not
depend on the chunk size (up to the last bits of the BLAS kernel). The float64 matmul keeps the
cancellation error of the expansion about 1e-14 relative to the squared norms, far below the 1e-6
tolerance the metrics are tested to.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from ..errors import GanforgeError

DEFAULT_CHUNK = 1024
"""Rows per distance block: 1024 x 10,000 float64 is 80 MB."""


def as_matrix(x: Any, name: str, dim: int | None = None, like: str | None = None) -> torch.Tensor:
    """``x`` (numpy array, torch tensor or nested sequence) as a CPU float64 tensor of shape (n, d).

    Raises GanforgeError naming ``name`` and the expected shape when ``x`` is not 2-D, is empty, has a
    feature dimension other than ``dim`` (the dimension of the argument called ``like``) or holds NaN/inf.
    """
    expected = f"(n, {dim})" if dim is not None else "(n, d)"
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", torch.float64)
    else:
        try:
            t = torch.from_numpy(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError):
            raise GanforgeError(f"{name} must be a numeric 2-D array {expected}, got {type(x).__name__}") from None
    if t.ndim != 2:
        raise GanforgeError(f"{name} must be a 2-D array {expected}, got shape {tuple(t.shape)}")
    if dim is not None and t.shape[1] != dim:
        raise GanforgeError(
            f"{name} must have shape {expected} to match {like or 'the other input'}, got {tuple(t.shape)}"
        )
    if t.shape[0] == 0:
        raise GanforgeError(f"{name} must have at least one row {expected}, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise GanforgeError(f"{name} must be finite, but it holds NaN or inf values")
    return t


def as_pair(x: Any, y: Any, xname: str, yname: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both arrays as float64 (n, d) tensors with the same feature dimension d."""
    tx = as_matrix(x, xname)
    return tx, as_matrix(y, yname, dim=tx.shape[1], like=xname)


def check_chunk(chunk: Any) -> int:
    """``chunk`` as a positive int, else a GanforgeError."""
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise GanforgeError(f"chunk must be a positive integer (rows per distance block), got {chunk!r}")
    return int(chunk)


def check_count(value: Any, name: str, low: int, high: int | None = None) -> int:
    """An integer argument such as ``k`` within [low, high], else a GanforgeError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
        high is not None and value > high
    ):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise GanforgeError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def squared_distance_blocks(
    x: torch.Tensor, y: torch.Tensor, chunk: int = DEFAULT_CHUNK
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, D)`` with ``D[i, j] = ||x[start + i] - y[j]||^2`` for ``i < chunk``.

    ``x`` (n, d) and ``y`` (m, d) are float64 tensors (see :func:`as_pair`); each ``D`` is a fresh float64
    (rows, m) tensor, clamped at 0, that the caller may modify in place. Only one block is alive at a
    time if the caller drops it before asking for the next.
    """
    chunk = check_chunk(chunk)
    centre = y.mean(dim=0)
    y = y - centre  # distances are shift-invariant; centring shrinks the norms that cancel
    y_sq = (y * y).sum(dim=1)
    yt = y.t()
    for start in range(0, x.shape[0], chunk):
        xb = x[start:start + chunk] - centre
        x_sq = (xb * xb).sum(dim=1, keepdim=True)
        block = torch.addmm(y_sq.unsqueeze(0), xb, yt, beta=1.0, alpha=-2.0)
        block.add_(x_sq).clamp_(min=0.0)
        yield start, block
