"""Study storages: opening one by URL (with dead-worker detection), creating or resuming a study,
and the lock that lets every worker of a study count and start trials one at a time."""

from search.storages._claim_lock import ClaimLock
from search.storages._storage import MAX_RETRY, RetryStaleTrial, StaleTrialHook, open_storage
from search.storages._study import open_study

__all__ = ["MAX_RETRY", "ClaimLock", "RetryStaleTrial", "StaleTrialHook", "open_storage", "open_study"]
