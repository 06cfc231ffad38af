"""Opening a study storage by URL: SQLite, PostgreSQL (any SQLAlchemy database) or a journal file."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial
from sqlalchemy import exc as sqlalchemy_exc

from search.core import DEFAULT_STORAGE, StorageError, grace_seconds, heartbeat_seconds, redact

__all__ = ["MAX_RETRY", "RetryStaleTrial", "StaleTrialHook", "open_storage"]

_log = logging.getLogger("search")

#: how often a trial whose worker died is retried
MAX_RETRY = 2

#: told of a trial found stale (its worker died) before it is retried, e.g. to close its MLflow run
StaleTrialHook = Callable[[FrozenTrial], None]


class RetryStaleTrial(RetryHeartbeatStaleTrialCallback):
    """Optuna's stale-trial retry, which first tells ``hooks`` of the dead trial.

    Called by :func:`optuna.storages.fail_stale_trials` in whichever worker notices the stale
    trial; the retry (a WAITING copy with the same parameters and the system attributes
    ``failed_trial`` and ``retry_history``) is then run by the next worker that starts a trial.
    """

    def __init__(self, hooks: tuple[StaleTrialHook, ...] = ()) -> None:
        # the retry sees the dead trial's epochs' intermediate values, and resumes from its checkpoint
        super().__init__(max_retry=MAX_RETRY, inherit_intermediate_values=True)
        self.hooks = hooks

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        for hook in self.hooks:
            hook(trial)
        _log.warning("trial %d lost its worker (no heartbeat): failed and queued again", trial.number)
        super().__call__(study, trial)


def open_storage(url: str, on_stale: tuple[StaleTrialHook, ...] = ()) -> optuna.storages.BaseStorage:
    """Open an Optuna storage URL (any SQLAlchemy database URL, or ``journal:///path``).

    Relational storages get Optuna's heartbeat, so a trial whose worker died is marked failed
    and retried (:class:`RetryStaleTrial`, which first calls each of ``on_stale``). SQLite gets a long busy
    timeout, so several local processes and a watching dashboard do not fail with
    "database is locked".

    Raises:
        StorageError: with a one-line reason (the password never appears in it).
    """
    safe = redact(url)
    if url.startswith("journal://"):
        path = url.removeprefix("journal://")
        if not path:
            raise StorageError(f"malformed journal storage URL {safe!r}: use journal:///path/to/file.log")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(path))
        except OSError as exc:
            raise StorageError(f"cannot open journal storage {safe}: {exc}") from None
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        raise StorageError(f"malformed storage URL {safe!r} (expected e.g. {DEFAULT_STORAGE})") from None
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            folder = Path(database).parent
            if url == DEFAULT_STORAGE:
                folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_dir():
                raise StorageError(f"cannot open {safe}: folder {folder} does not exist")
        engine_kwargs["connect_args"] = {"timeout": 120}
    else:
        engine_kwargs["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql":
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
    try:  # $SEARCH_HEARTBEAT_SECONDS / $SEARCH_GRACE_SECONDS override the defaults (tests)
        heartbeat, grace = heartbeat_seconds(), grace_seconds()
    except ValueError as exc:
        raise StorageError(str(exc)) from None
    def rdb() -> optuna.storages.RDBStorage:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            grace_period=grace,
            heartbeat_stale_trial_callback=RetryStaleTrial(on_stale),
        )

    try:
        try:
            return rdb()
        except (sqlalchemy_exc.IntegrityError, sqlalchemy_exc.ProgrammingError):  # another process
            # created the tables at the same moment (several machines starting on an empty database)
            time.sleep(1.0)
            return rdb()
    except ImportError as exc:
        raise StorageError(f"cannot open {safe}: missing database driver ({exc.name})") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {safe}: {first}".replace(url, safe)) from None


