"""Closing the MLflow run of a trial that will never end it itself (its worker died, or Ctrl-C)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from search.core import resolve_tracking_uri
from search.records import TrialKey, TrialRecord

__all__ = ["MLFLOW_RUN_ATTR", "TrialRunCloser", "metric_histories"]

_log = logging.getLogger("search")

#: the trial user attribute in which the MLflow tracker stores the id of the trial's run
MLFLOW_RUN_ATTR = TrialKey.MLFLOW_RUN_ID


class TrialRunCloser:
    """Ends a trial's MLflow run (user attribute ``mlflow_run_id``) with ``status`` if still running.

    A hook for :func:`search.storages.open_storage` (trials whose worker died) and
    :func:`search.trials.run_trials` (trials Ctrl-C stopped). Tracking trouble is logged, never
    raised: it must not stop the search.

    Args:
        tracking_uri: the MLflow store (None: ``$MLFLOW_TRACKING_URI`` or the default).
        status: the run's end status.
    """

    def __init__(self, tracking_uri: str | None, status: str = "KILLED") -> None:
        self.tracking_uri = tracking_uri
        self.status = status

    def __call__(self, trial: FrozenTrial | optuna.trial.Trial) -> bool:
        """Returns True when a running run was closed."""
        run_id = TrialRecord.of(trial).mlflow_run_id
        if not run_id:
            return False
        try:
            from mlflow import MlflowClient  # slow to import: only when a run must be closed

            client = MlflowClient(tracking_uri=resolve_tracking_uri(self.tracking_uri))
            if client.get_run(str(run_id)).info.status != "RUNNING":
                return False
            client.set_terminated(str(run_id), self.status)
        except Exception as exc:
            _log.warning("could not close MLflow run %s of trial %d: %s", run_id, trial.number, exc)
            return False
        return True


def metric_histories(run_id: str, keys: Sequence[str], tracking_uri: str | None) -> dict[str, list[float]]:
    """The per-step values of ``keys`` logged to run ``run_id``, in step order.

    Raises:
        mlflow.exceptions.MlflowException, OSError: the store cannot be read.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    return {
        key: [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]
        for key in keys
    }
