"""The names under which a trial's attributes are stored (Optuna user attributes)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CURVES", "TrialKey"]


class TrialKey(StrEnum):
    """The stored name of each field of :class:`~search.records.TrialRecord` (its meaning and unit
    are documented there). These strings are what studies on disk hold: renaming one would hide
    the attribute of every existing study, unless :meth:`TrialRecord.from_attrs` reads the old
    name too."""

    SEARCH_RUN = "search_run"
    WORKER = "worker"
    WORKER_PROCESS = "worker_process"
    PRESET = "preset"
    ENGINE = "engine"
    KERAS_TUNER_TRIAL = "keras_tuner_trial"
    KERAS_TUNER_EPOCHS = "keras_tuner_epochs"
    KERAS_TUNER_CONTINUES = "keras_tuner_continues"
    EPOCHS_PLANNED = "epochs_planned"
    DEVICE = "device"
    RESUMED_FROM_TRIAL = "resumed_from_trial"
    RESUMED_FROM_EPOCH = "resumed_from_epoch"
    FIRST_EPOCH_IMAGES = "first_epoch_images"
    PARAM_COUNT = "param_count"
    MULTIPLY_ADDS = "multiply_adds"
    BATCH_SIZE = "batch_size"
    TRAIN_IMAGES = "train_images"
    PREDICTED_SECONDS_PER_EPOCH = "predicted_seconds_per_epoch"
    TIME_CAP_SECONDS = "time_cap_seconds"
    TIME_BOUND_SECONDS = "time_bound_seconds"
    MLFLOW_RUN_ID = "mlflow_run_id"
    MLFLOW_EXPERIMENT_ID = "mlflow_experiment_id"
    MLFLOW_RUN = "mlflow_run"
    BATCH_SECONDS_PER_EPOCH = "batch_seconds_per_epoch"
    CHECKPOINT_SECONDS_PER_EPOCH = "checkpoint_seconds_per_epoch"
    STOPPED_BY_TIME_BUDGET = "stopped_by_time_budget"
    VAL_ACCURACY = "val_accuracy"
    BEST_EPOCH = "best_epoch"
    EPOCHS_RUN = "epochs_run"
    TRAINING_SECONDS = "training_seconds"
    SECONDS_PER_EPOCH = "seconds_per_epoch"
    IMAGES_PER_SECOND = "images_per_second"
    HISTORY = "history"
    MODEL_ARTIFACT_ID = "model_artifact_id"
    PRUNED_REASON = "pruned_reason"
    PRUNED_EPOCH = "pruned_epoch"
    FAIL_REASON = "fail_reason"
    INTERRUPTED = "interrupted"
    TRIAL = "trial"


#: the Keras learning curves a trial keeps in its ``history`` (per epoch; the keys of Keras' logs)
CURVES = ("loss", "accuracy", "val_loss", "val_accuracy")
