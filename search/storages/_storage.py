"""Opening a study storage by URL: SQLite, PostgreSQL (any SQLAlchemy database) or a journal file."""

from __future__ import annotations

import copy
import logging
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import exc as sqlalchemy_exc

from search.core import DEFAULT_STORAGE, StorageError, grace_seconds, heartbeat_seconds, redact
from search.records import TrialKey

__all__ = [
    "MAX_RETRY",
    "NOT_INHERITED",
    "RetryStaleTrial",
    "StaleTrialHook",
    "open_storage",
    "queue_retry",
    "stale_trial_callback",
]

_log = logging.getLogger("search")

#: how often a trial whose worker died is retried
MAX_RETRY = 2

#: told of a trial found stale (its worker died) before it is retried, e.g. to close its MLflow run
StaleTrialHook = Callable[[FrozenTrial], None]


#: user attributes of a failed trial that its retry does not inherit
NOT_INHERITED = (TrialKey.INTERRUPTED, TrialKey.FAIL_REASON, TrialKey.WORKER_PROCESS)


class RetryStaleTrial(RetryHeartbeatStaleTrialCallback):
    """Optuna's stale-trial retry, which first tells ``hooks`` of the dead trial.

    Called by :func:`optuna.storages.fail_stale_trials` in whichever worker notices the stale
    trial (and by :func:`~search.storages.fail_dead_local_trials` through :meth:`retry`); the retry
    (a WAITING copy with the same parameters and the system attributes ``failed_trial`` and
    ``retry_history``) is then claimed before any other trial by the next worker that starts one.
    """

    def __init__(self, hooks: tuple[StaleTrialHook, ...] = ()) -> None:
        # the retry sees the dead trial's epochs' intermediate values, and resumes from its checkpoint
        super().__init__(max_retry=MAX_RETRY, inherit_intermediate_values=True)
        self.hooks = hooks

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        _log.warning("trial %d lost its worker (no heartbeat): failed and queued again", trial.number)
        self.retry(study, trial)

    def retry(self, study: optuna.Study, trial: FrozenTrial) -> int | None:
        """Tell the hooks of the failed ``trial``, then queue its retry.

        Returns:
            The retry's trial number, or None when ``trial`` was retried :data:`MAX_RETRY` times.
        """
        for hook in self.hooks:
            hook(trial)
        return queue_retry(study, trial)


def queue_retry(study: optuna.Study, trial: FrozenTrial) -> int | None:
    """Queue a WAITING retry of the failed ``trial`` (same parameters, its epochs' values), without
    the user attributes of its failure or its process (:data:`NOT_INHERITED`).

    Returns:
        The retry's trial number, or None when ``trial`` was retried :data:`MAX_RETRY` times.
    """
    copied = copy.deepcopy(trial)
    copied.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in NOT_INHERITED}
    with warnings.catch_warnings():  # experimental since Optuna 2.8, chosen on purpose
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(MAX_RETRY, inherit_intermediate_values=True)
    retry(study, copied)
    for queued in reversed(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))):
        if (queued.system_attrs.get("retry_history") or [None])[-1] == trial.number:
            return queued.number
    return None


#: the stale-trial callbacks of storages without a heartbeat (journal files), by storage
_CALLBACKS: weakref.WeakKeyDictionary[optuna.storages.BaseStorage, RetryStaleTrial] = (
    weakref.WeakKeyDictionary()
)


def stale_trial_callback(storage: optuna.storages.BaseStorage) -> RetryStaleTrial:
    """The :class:`RetryStaleTrial` (with the ``on_stale`` hooks) :func:`open_storage` gave ``storage``."""
    getter = getattr(storage, "get_heartbeat_stale_trial_callback", None)  # RDB storages
    callback = getter() if getter is not None else None
    if isinstance(callback, RetryStaleTrial):
        return callback
    return _CALLBACKS.get(storage) or RetryStaleTrial()


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
            journal = JournalStorage(JournalFileBackend(path))
        except OSError as exc:
            raise StorageError(f"cannot open journal storage {safe}: {exc}") from None
        _CALLBACKS[journal] = RetryStaleTrial(on_stale)  # no heartbeat: dead local workers only
        return journal
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


