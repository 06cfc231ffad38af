"""A trial's record: every attribute a trial stores in its study, typed, in one place.

A trial writes its attributes at different moments (the loop as it starts it, the objective as it
plans, builds and ends it, the MLflow tracker when it opens its run), each a partial
:class:`TrialRecord` written with :meth:`TrialRecord.write`; whatever reads a study (the summary,
the refit, search.report, search.compare, the cost model) reads them back whole with
:meth:`TrialRecord.of`. The trial is duck-typed (``user_attrs``, ``set_user_attr``): an Optuna
``Trial`` or ``FrozenTrial``, without importing Optuna.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from search.records._keys import TrialKey

__all__ = ["RecordedTrial", "TrialRecord", "WritableTrial"]


class RecordedTrial(Protocol):
    """A trial whose attributes can be read (an Optuna ``Trial`` or ``FrozenTrial``)."""

    @property
    def user_attrs(self) -> Mapping[str, Any]: ...


class WritableTrial(Protocol):
    """A trial that stores attributes (a running Optuna ``Trial``)."""

    def set_user_attr(self, key: str, value: Any) -> None: ...


class _AttrStorage(Protocol):
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None: ...


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    """What a trial stores, by the name it is stored under (:class:`~search.records.TrialKey`).

    Every field is optional: None means not recorded (a partial record, or a trial that stopped
    before it got there). Seconds are wall-clock seconds on the machine that trained the trial.
    """

    # -- who runs it (the worker loop, as the trial starts)
    #: the id of the invocation that started it (--n-trials counts its own)
    search_run: str | None = None
    #: "host:pid" of the process that ran it
    worker: str | None = None
    #: that process, told apart from a later one with its pid (WorkerProcess.attr())
    worker_process: dict[str, Any] | None = None
    # -- who proposed it (queued before it starts)
    #: the name of the documents' preset it trains (--enqueue-presets)
    preset: str | None = None
    #: "keras-tuner" when keras-tuner proposed it (absent: Optuna's sampler)
    engine: str | None = None
    #: keras-tuner's id of the trial it trains
    keras_tuner_trial: str | None = None
    #: epochs keras-tuner's Hyperband bracket gave it
    keras_tuner_epochs: int | None = None
    #: keras-tuner's id of the trial of the bracket's previous round that it continues (Hyperband)
    keras_tuner_continues: str | None = None
    # -- its plan (the objective, before it trains)
    #: epochs it would train if nothing stopped it: its own, at most --max-epochs
    epochs_planned: int | None = None
    #: what trained it, e.g. "CPU (2 threads)"
    device: str | None = None
    #: the number of the dead trial whose checkpoint it resumed
    resumed_from_trial: int | None = None
    #: epochs that trial had completed (it went on from there)
    resumed_from_epoch: int | None = None
    #: training images its first epoch trained on (a subset, or all)
    first_epoch_images: int | None = None
    #: the model's weights (a count)
    param_count: int | None = None
    # -- what the cost model predicts from (the objective, once the model is built)
    #: the model's multiply-adds per image (a forward pass)
    multiply_adds: int | None = None
    #: images per training step
    batch_size: int | None = None
    #: images of the training split (an epoch's images)
    train_images: int | None = None
    #: the cost model's prediction for it (s)
    predicted_seconds_per_epoch: float | None = None
    #: its time cap: the user's --trial-timeout or one derived from the time left (s)
    time_cap_seconds: float | None = None
    #: past its cap while ahead of the leader, no epoch ends after this (s)
    time_bound_seconds: float | None = None
    # -- its MLflow run (the tracker, as the run opens)
    #: the id of its MLflow run
    mlflow_run_id: str | None = None
    #: the id of that run's experiment
    mlflow_experiment_id: str | None = None
    #: the run's page: a URL, or the route after the MLflow UI's address
    mlflow_run: str | None = None
    # -- how it trained (the objective, as it ends)
    #: the pace its first batches showed, scaled to an epoch (s)
    batch_seconds_per_epoch: float | None = None
    #: saving its checkpoint after an epoch, on average (s)
    checkpoint_seconds_per_epoch: float | None = None
    #: True: its time cap or the search's end stopped it
    stopped_by_time_budget: bool | None = None
    #: its best validation accuracy over its epochs (0 to 1)
    val_accuracy: float | None = None
    #: the epoch of that best (from 1)
    best_epoch: int | None = None
    #: epochs it trained (and validated)
    epochs_run: int | None = None
    #: its training and validation (s)
    training_seconds: float | None = None
    #: an epoch on every training image, on average (s)
    seconds_per_epoch: float | None = None
    #: training images per second
    images_per_second: float | None = None
    #: per-epoch learning curves (CURVES; None: not finite)
    history: dict[str, list[float | None]] | None = None
    #: the Optuna artifact holding its trained model (kept for the best)
    model_artifact_id: str | None = None
    # -- why it ended early
    #: why it was pruned ("pruner", the time budget, "cannot be built: ...")
    pruned_reason: str | None = None
    #: epochs it had completed when pruned
    pruned_epoch: int | None = None
    #: why it failed: "<exception type>: <first line>", or what ended it
    fail_reason: str | None = None
    #: True: Ctrl-C stopped it (failed, and queued again)
    interrupted: bool | None = None
    # -- a cross-validation run (the in-memory study of the finalists, not the search's)
    #: the number of the search trial whose configuration it scores
    trial: int | None = None

    @classmethod
    def of(cls, trial: RecordedTrial) -> TrialRecord:
        """The record of ``trial`` (an Optuna ``Trial`` or ``FrozenTrial``)."""
        return cls.from_attrs(trial.user_attrs)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialRecord:
        """The record held by a trial's user attributes. Names not in the record are ignored; a
        value not of its field's type (a study edited by hand) reads as not recorded."""
        kinds = _kinds()
        values = {}
        for name, value in attrs.items():
            kind = kinds.get(str(name))
            if kind is not None and value is not None:
                values[str(name)] = _coerce(kind, value)
        return cls(**values)

    def attrs(self) -> dict[str, Any]:
        """The recorded fields, by the name they are stored under."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    def write(self, trial: WritableTrial) -> None:
        """Store the recorded fields as ``trial``'s user attributes (its others are kept)."""
        for name, value in self.attrs().items():
            trial.set_user_attr(name, value)

    def write_to_storage(self, storage: _AttrStorage, trial_id: int) -> None:
        """Store the recorded fields on the trial ``trial_id`` of an Optuna ``storage`` (a trial
        this process does not run)."""
        for name, value in self.attrs().items():
            storage.set_trial_user_attr(trial_id, name, value)

    def get(self, key: TrialKey | str) -> Any:
        """The field stored under ``key`` (None: not recorded)."""
        return getattr(self, str(key))

    @property
    def pace(self) -> float | None:
        """The seconds per epoch it measured: of its whole epochs, else of its first batches
        (None: it measured none)."""
        return self.seconds_per_epoch or self.batch_seconds_per_epoch or None

    def metrics(self) -> dict[str, float]:
        """The final metrics its MLflow run logs: what it measured, by attribute name, its best
        validation accuracy as ``final_val_accuracy`` (the run's ``val_accuracy`` is per epoch)."""
        names = {
            TrialKey.VAL_ACCURACY: "final_val_accuracy",
            TrialKey.TRAINING_SECONDS: TrialKey.TRAINING_SECONDS.value,
            TrialKey.SECONDS_PER_EPOCH: TrialKey.SECONDS_PER_EPOCH.value,
            TrialKey.IMAGES_PER_SECOND: TrialKey.IMAGES_PER_SECOND.value,
            TrialKey.PARAM_COUNT: TrialKey.PARAM_COUNT.value,
            TrialKey.EPOCHS_RUN: TrialKey.EPOCHS_RUN.value,
            TrialKey.BEST_EPOCH: TrialKey.BEST_EPOCH.value,
        }
        values = {metric: self.get(key) for key, metric in names.items()}
        return {metric: float(v) for metric, v in values.items() if v is not None}


@functools.cache
def _kinds() -> dict[str, type]:
    """Each field's type without its None (``int | None``: int; ``dict[str, Any] | None``: dict)."""
    hints = typing.get_type_hints(TrialRecord)
    kinds = {}
    for f in dataclasses.fields(TrialRecord):
        kind = next(a for a in typing.get_args(hints[f.name]) if a is not type(None))
        kinds[f.name] = typing.get_origin(kind) or kind
    return kinds


def _coerce(kind: type, value: Any) -> Any:
    """``value`` as ``kind`` (JSON keeps 3.0 for an int field of some storages), or None when it
    is not one."""
    if kind is bool:
        return bool(value)
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if kind is int:
            return int(value) if math.isfinite(value) else None
        return float(value)
    if kind is str:
        return value if isinstance(value, str) else str(value)
    return value if isinstance(value, kind) else None
