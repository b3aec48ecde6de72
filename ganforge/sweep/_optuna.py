"""Optuna, imported on demand: the rest of ganforge imports and runs without it.

``require_optuna()`` returns the module or raises a one-line :class:`~ganforge.errors.GanforgeError`
naming the ``sweep`` extra; ``quiet()`` silences Optuna's experimental-feature warnings (heartbeats and
the retry callback are marked experimental) and its per-trial log lines, which the sweep prints itself.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

from ..errors import GanforgeError


def require_optuna():
    """The ``optuna`` module (>= 4); a user error when it is not installed."""
    try:
        import optuna
    except ImportError:
        raise GanforgeError("sweep needs the optuna package, which is not installed (expected: "
                            "pip install 'ganforge[sweep]', i.e. optuna>=4 and psycopg[binary]>=3)") from None
    return optuna


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Optuna's ExperimentalWarnings ignored and its logger at ERROR for the duration."""
    optuna = require_optuna()
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)
