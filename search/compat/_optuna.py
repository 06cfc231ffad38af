"""Every use of Optuna's private API, in one adapter.

Checked against Optuna 5.0 and 5.1, the version installed (``pyproject.toml`` allows
``optuna>=4.5,<6``; the names below exist in 4.5 through 5.0, and in 5.1, where
``Study._get_trials`` was checked). Why each is needed:

* ``Study._storage`` and ``Trial._trial_id``: the trial loop claims trials itself (to count them
  exactly across workers) instead of calling ``Study.optimize``, so it needs what ``optimize``
  uses internally: the storage object and the trial's id.
* ``optuna.storages._heartbeat``: ``optimize`` runs a heartbeat thread for each trial; there is
  no public wrapper, so the loop starts the same thread. A first heartbeat is recorded as soon as
  a trial is claimed: Optuna never finds a trial without any heartbeat stale.
* ``Study._thread_local.cached_all_trials``: ``Study.ask`` clears this cache before starting a
  trial, so the sampler sees the storage afresh; :func:`claim_waiting_trial` starts a chosen
  WAITING trial (a retry before any queued preset: ``ask`` would pop the oldest) the same way.
* ``Study._get_trials(deepcopy=False, use_cache=True)``: the trials as Optuna's own samplers read
  them while a trial starts (TPE and QMC do so in 5.1): from that cache, filled from the storage
  once per ``ask``. The public ``get_trials`` queries the storage on every call, and the prior
  sampler reads the trials several times for each trial it draws (ranking them, weighting the
  presets, listing the parameters declared); :func:`cached_trials` reads them as TPE does.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "cached_trials",
    "claim_waiting_trial",
    "first_heartbeat",
    "heartbeat_thread",
    "storage_of",
    "trial_id",
]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage object behind ``study``."""
    return study._storage


def trial_id(trial: optuna.trial.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of ``trial`` (unique across studies, unlike its number)."""
    return int(trial._trial_id)


def cached_trials(study: optuna.Study, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
    """The trials of ``study`` (of ``states`` only, if given) as a sampler reads them: from the
    study's cache, which ``Study.ask`` empties before each trial, and not copied (do not change
    them)."""
    return study._get_trials(deepcopy=False, states=states, use_cache=True)


def heartbeat_thread(study: optuna.Study, trial: optuna.trial.Trial) -> Any:
    """A context manager that keeps ``trial``'s heartbeat going, as ``Study.optimize`` does."""
    return get_heartbeat_thread(trial_id(trial), storage_of(study))


def first_heartbeat(study: optuna.Study, trial: optuna.trial.Trial) -> None:
    """Record a first heartbeat of ``trial`` now, when its storage has heartbeats."""
    storage = storage_of(study)
    if is_heartbeat_enabled(storage):
        storage.record_heartbeat(trial_id(trial))  # type: ignore[attr-defined]


def claim_waiting_trial(
    study: optuna.Study, waiting: optuna.trial.FrozenTrial
) -> optuna.trial.Trial | None:
    """Start the WAITING trial ``waiting``, as ``Study.ask`` starts the first of its queue.

    Returns:
        The running trial, or None when another process started (or finished) it first.
    """
    cache = getattr(study, "_thread_local", None)
    if cache is not None:
        cache.cached_all_trials = None  # as ask: the sampler reads the trials afresh
    try:
        if not storage_of(study).set_trial_state_values(trial_id(waiting), state=TrialState.RUNNING):
            return None
    except UpdateFinishedTrialError:
        return None
    return optuna.trial.Trial(study, trial_id(waiting))
