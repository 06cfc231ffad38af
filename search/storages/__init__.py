"""Study storages: opening one by URL (with dead-worker detection), creating or resuming a study,
the lock that lets every worker of a study count and start trials one at a time, and the
processes running trials (a trial whose process died on this machine is retried at once)."""

from search.storages._claim_lock import ClaimLock
from search.storages._liveness import (
    WORKER_PROCESS_ATTR,
    DeadTrial,
    WorkerProcess,
    fail_dead_local_trials,
)
from search.storages._storage import (
    MAX_RETRY,
    NOT_INHERITED,
    RetryStaleTrial,
    StaleTrialHook,
    open_storage,
    queue_retry,
    stale_trial_callback,
)
from search.storages._study import open_study

__all__ = [
    "MAX_RETRY",
    "NOT_INHERITED",
    "WORKER_PROCESS_ATTR",
    "ClaimLock",
    "DeadTrial",
    "RetryStaleTrial",
    "StaleTrialHook",
    "WorkerProcess",
    "fail_dead_local_trials",
    "open_storage",
    "open_study",
    "queue_retry",
    "stale_trial_callback",
]
