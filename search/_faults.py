"""Faults: dead workers, interrupted trials, and resuming a retried trial from its checkpoint.

* A worker killed in the middle of a trial stops sending Optuna's heartbeat; after the grace
  period the next worker that looks (before it starts a trial) marks the trial failed.
  :class:`CloseRunAndRetry` then closes the trial's MLflow run as ``KILLED`` and queues a retry
  with the same parameters (Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`).
* :class:`Checkpoints` saves each trial's model after every epoch, so a retried trial resumes
  from its predecessor's last completed epoch instead of starting over.

The heartbeat interval and grace period come from ``$SEARCH_HEARTBEAT_SECONDS`` and
``$SEARCH_GRACE_SECONDS`` (defaults 30 and 90 s), so tests need not wait minutes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

__all__ = [
    "GRACE_ENV",
    "HEARTBEAT_ENV",
    "INTERRUPTED_REASON",
    "MLFLOW_RUN_ATTR",
    "Checkpoints",
    "CloseRunAndRetry",
    "Resume",
    "close_mlflow_run",
    "grace_seconds",
    "heartbeat_seconds",
    "set_tracking_uri",
]

_log = logging.getLogger("search")

HEARTBEAT_ENV = "SEARCH_HEARTBEAT_SECONDS"
GRACE_ENV = "SEARCH_GRACE_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30
DEFAULT_GRACE_SECONDS = 90

#: the trial user attribute in which the MLflow tracker stores the id of the trial's run
MLFLOW_RUN_ATTR = "mlflow_run_id"
INTERRUPTED_REASON = "interrupted by the user"

#: where runs of dead or interrupted trials are closed; None: ``$MLFLOW_TRACKING_URI`` or the default
_tracking: dict[str, str | None] = {"uri": None}


def _positive_int_env(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${name} must be a positive whole number of seconds, not {text!r}")
    return value


def heartbeat_seconds() -> int:
    """How often a running trial shows its worker is alive (``$SEARCH_HEARTBEAT_SECONDS``, 30)."""
    return _positive_int_env(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_SECONDS)


def grace_seconds() -> int:
    """Silence after which a running trial is failed (``$SEARCH_GRACE_SECONDS``, 90)."""
    return _positive_int_env(GRACE_ENV, DEFAULT_GRACE_SECONDS)


def set_tracking_uri(uri: str | None) -> None:
    """Where :func:`close_mlflow_run` closes runs (None: ``$MLFLOW_TRACKING_URI`` or the default)."""
    _tracking["uri"] = uri


def close_mlflow_run(trial: FrozenTrial | optuna.trial.Trial, status: str = "KILLED") -> bool:
    """End ``trial``'s MLflow run (user attr ``mlflow_run_id``) with ``status`` if still running.

    Returns:
        True when a running run was closed. Tracking trouble is logged, never raised: it must not
        stop the search.
    """
    run_id = trial.user_attrs.get(MLFLOW_RUN_ATTR)
    if not run_id:
        return False
    try:
        from mlflow import MlflowClient

        from search._paths import resolve_tracking_uri

        client = MlflowClient(tracking_uri=resolve_tracking_uri(_tracking["uri"]))
        if client.get_run(str(run_id)).info.status != "RUNNING":
            return False
        client.set_terminated(str(run_id), status)
    except Exception as exc:
        _log.warning("could not close MLflow run %s of trial %d: %s", run_id, trial.number, exc)
        return False
    return True


class CloseRunAndRetry(RetryHeartbeatStaleTrialCallback):
    """Optuna's stale-trial retry, which first closes the dead trial's MLflow run as ``KILLED``.

    Called by :func:`optuna.storages.fail_stale_trials` in whichever worker notices the stale
    trial; the retry (a WAITING copy with the same parameters and the system attributes
    ``failed_trial`` and ``retry_history``) is then run by the next worker that starts a trial.
    """

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        close_mlflow_run(trial, "KILLED")
        _log.warning(
            "trial %d lost its worker (no heartbeat): failed and queued again", trial.number
        )
        super().__call__(study, trial)


@dataclass
class Resume:
    """Where a retried trial starts: its predecessor's model after ``epoch`` completed epochs."""

    epoch: int
    model: Any  # keras.Model
    source_trial: int
    history: dict[str, list[float]]


class Checkpoints:
    """A checkpoint per running trial: ``<folder>/<number>.keras`` plus ``.json`` (epochs done).

    The ``.json`` is written after the ``.keras`` file, each through a temporary file and an atomic
    rename, so a worker killed while saving leaves the previous complete checkpoint.

    Args:
        folder: e.g. ``storage/artifacts/checkpoints/<study name>``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _paths(self, number: int) -> tuple[Path, Path]:
        return self.folder / f"{number}.keras", self.folder / f"{number}.json"

    def callback(
        self, trial: optuna.trial.Trial, history: dict[str, list[float]] | None = None
    ) -> Any:
        """A Keras callback saving ``trial``'s model after each epoch (``seconds``: each save).

        Args:
            trial: the running trial.
            history: the epochs of the checkpoint it resumed from, kept in its own checkpoints.
        """
        import keras

        checkpoints = self

        class _Save(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self.history: dict[str, list[float]] = {
                    k: list(v) for k, v in (history or {}).items()
                }

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                for key, value in (logs or {}).items():
                    self.history.setdefault(key, []).append(float(value))
                if epoch + 1 >= self.params.get("epochs", 0):
                    return  # the trial's last epoch: it ends now, and its checkpoints go with it
                start = time.perf_counter()
                checkpoints.save(trial.number, self.model, epoch + 1, self.history)
                self.seconds.append(time.perf_counter() - start)

        return _Save()

    def save(
        self, number: int, model: Any, epochs_done: int, history: dict[str, list[float]]
    ) -> None:
        """Write ``model`` as trial ``number``'s checkpoint after ``epochs_done`` epochs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        model_path, meta_path = self._paths(number)
        tmp_model = model_path.with_name(f".{model_path.stem}.tmp.keras")
        model.save(tmp_model)
        os.replace(tmp_model, model_path)
        tmp_meta = meta_path.with_name(f".{meta_path.name}.tmp")
        tmp_meta.write_text(
            json.dumps({"trial": number, "epochs_done": epochs_done, "history": history})
        )
        os.replace(tmp_meta, meta_path)

    def restore(self, trial: optuna.trial.Trial) -> Resume | None:
        """The checkpoint of the trial that ``trial`` retries (the latest one), if any."""
        for number in reversed(self.predecessors(trial)):
            model_path, meta_path = self._paths(int(number))
            if not (model_path.is_file() and meta_path.is_file()):
                continue
            try:
                meta = json.loads(meta_path.read_text())
                import keras

                keras.backend.clear_session()
                model = keras.models.load_model(model_path)
            except Exception as exc:  # a damaged checkpoint: start over rather than fail
                _log.warning(
                    "checkpoint of trial %s unusable (%s): trial %d starts over",
                    number,
                    exc,
                    trial.number,
                )
                continue
            return Resume(int(meta["epochs_done"]), model, int(number), meta.get("history", {}))
        return None

    def predecessors(self, trial: optuna.trial.Trial) -> list[int]:
        """The numbers of the trials ``trial`` retries (empty for a fresh trial)."""
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        return [int(n) for n in frozen.system_attrs.get("retry_history") or []]

    def discard(self, *numbers: int) -> None:
        """Delete the checkpoints of finished trials."""
        for number in numbers:
            for path in self._paths(number):
                path.unlink(missing_ok=True)
