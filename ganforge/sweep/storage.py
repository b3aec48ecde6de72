"""Where a study lives: Optuna's RDB storage on any SQLAlchemy URL, opened with one-line errors.

SQLite (``sqlite:///DIR/sweep.db``) serves one machine; PostgreSQL (``postgresql+psycopg://user@host/db``)
lets many machines run ``ganforge sweep`` on the same study. Workers beat a heartbeat into the storage
(Optuna's ``heartbeat_interval``); a RUNNING trial whose heartbeat is older than ``grace_period`` is
failed by the next worker that looks, and the retry callback puts a copy of it (same parameters, user
attributes and intermediate scores) back in the queue as WAITING (Optuna's
``RetryHeartbeatStaleTrialCallback``, ``RetryFailedTrialCallback`` before Optuna 4.9).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from ..errors import GanforgeError
from ._optuna import quiet, require_optuna

EXPECTED_URL = "an SQLAlchemy database URL, e.g. sqlite:///DIR/sweep.db or postgresql+psycopg://user@host/db"
CREATE_ATTEMPTS = 3  # two workers creating the tables at once can collide on PostgreSQL: try again


def shown_url(url: str) -> str:
    """The URL as messages show it: any password replaced by ***."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split())[:200] if lines else type(exc).__name__


def _retry_callback(max_retry: int):
    """Optuna's retry-on-stale callback and the RDBStorage argument that takes it (renamed in Optuna 4.9)."""
    storages = require_optuna().storages
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        callback = storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry, inherit_intermediate_values=True)
        return {"heartbeat_stale_trial_callback": callback}
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=max_retry,
                                                                       inherit_intermediate_values=True)}


def open_storage(url: str, heartbeat: Optional[int] = None, grace_period: Optional[int] = None,
                 max_retry: int = 3):
    """An ``optuna.storages.RDBStorage`` on ``url``, with heartbeats and retries when ``heartbeat`` is set."""
    optuna = require_optuna()
    from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError

    for attempt in range(CREATE_ATTEMPTS):
        try:
            with quiet():
                extra = {"heartbeat_interval": heartbeat, "grace_period": grace_period,
                         **_retry_callback(max_retry)} if heartbeat else {}
                return optuna.storages.RDBStorage(url, **extra)
        except (IntegrityError, ProgrammingError) as exc:
            if attempt + 1 == CREATE_ATTEMPTS:
                raise GanforgeError(f"storage {shown_url(url)}: {_reason(exc)}") from None
            time.sleep(1.0 + attempt)
        except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
            raise GanforgeError(f"storage {shown_url(url)}: {_reason(exc)} (expected {EXPECTED_URL})") from None


def check_sqlite(url: str, must_exist: bool) -> None:
    """Refuse an in-memory SQLite URL (it dies with the process and is not shared by the heartbeat's thread)
    and, when ``must_exist``, an SQLite file that does not exist (opening it would create an empty one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise GanforgeError(f"storage {url}: {_reason(exc)} (expected {EXPECTED_URL})") from None
    if parsed.get_backend_name() != "sqlite":
        return
    if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed.query):
        raise GanforgeError(f"storage {url}: an in-memory SQLite database cannot hold a sweep (expected a file, "
                            f"e.g. sqlite:///DIR/sweep.db)")
    if must_exist and not Path(parsed.database).is_file():
        raise GanforgeError(f"storage {url}: no such SQLite file {parsed.database} (expected the sweep.db of a "
                            f"ganforge sweep)")


def open_study(storage, name: str, protocol: dict, sampler, pruner):
    """Create study ``name`` (minimising) or join it; a study made for another protocol is refused."""
    optuna = require_optuna()
    with quiet():
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                    direction="minimize", load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise GanforgeError(f"study {name!r} maximises its objective (expected a ganforge sweep, which minimises FID)")
    recorded = study.user_attrs.get("ganforge")
    if recorded is None:
        study.set_user_attr("ganforge", protocol)
    elif recorded != protocol:
        diff = ", ".join(f"{k}={recorded.get(k)!r}" for k in protocol if recorded.get(k) != protocol[k])
        raise GanforgeError(f"study {name!r} was started with {diff}; run its workers with the same settings "
                            f"or choose another --study")
    return study


def load_studies(storage, names: Optional[list[str]] = None) -> list:
    """The studies ``names`` in ``storage`` (all of them when None), each checked to exist."""
    optuna = require_optuna()
    with quiet():
        known = optuna.study.get_all_study_names(storage)
        for name in names or []:
            if name not in known:
                raise GanforgeError(f"unknown study {name!r} in storage {shown_url(storage.url)} "
                                    f"(expected one of: {', '.join(known) or 'none: the storage holds no study'})")
        if not known:
            raise GanforgeError(f"storage {shown_url(storage.url)} holds no study (expected the storage of a "
                                f"ganforge sweep)")
        return [optuna.load_study(study_name=n, storage=storage) for n in (names or known)]
