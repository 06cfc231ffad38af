"""Every use of Optuna's private API, in one adapter.

Checked against Optuna 5.0 (``pyproject.toml`` allows ``optuna>=4.5,<6``; the names below exist in
4.5 through 5.0). Why each is needed:

* ``Study._storage`` and ``Trial._trial_id``: the trial loop claims trials itself (to count them
  exactly across workers) instead of calling ``Study.optimize``, so it needs what ``optimize``
  uses internally: the storage object and the trial's id.
* ``optuna.storages._heartbeat``: ``optimize`` runs a heartbeat thread for each trial; there is
  no public wrapper, so the loop starts the same thread. A first heartbeat is recorded as soon as
  a trial is claimed: Optuna never finds a trial without any heartbeat stale.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled

__all__ = ["first_heartbeat", "heartbeat_thread", "storage_of", "trial_id"]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage object behind ``study``."""
    return study._storage


def trial_id(trial: optuna.trial.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of ``trial`` (unique across studies, unlike its number)."""
    return int(trial._trial_id)


def heartbeat_thread(study: optuna.Study, trial: optuna.trial.Trial) -> Any:
    """A context manager that keeps ``trial``'s heartbeat going, as ``Study.optimize`` does."""
    return get_heartbeat_thread(trial_id(trial), storage_of(study))


def first_heartbeat(study: optuna.Study, trial: optuna.trial.Trial) -> None:
    """Record a first heartbeat of ``trial`` now, when its storage has heartbeats."""
    storage = storage_of(study)
    if is_heartbeat_enabled(storage):
        storage.record_heartbeat(trial_id(trial))  # type: ignore[attr-defined]
