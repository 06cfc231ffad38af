"""What a trial writes to the study: its measured values as user attributes, and the names of them.

Everything that reads a study (the summary, search.report, search.compare, the dashboard) relies
on these names.
"""

from __future__ import annotations

import math

import optuna

from search.training import TrainResult

__all__ = [
    "CANNOT_BE_BUILT",
    "MODEL_ARTIFACT_ATTR",
    "OBJECTIVES",
    "failure_reason",
    "metrics_of",
    "record_partial",
    "record_result",
]

#: the user attribute naming the Optuna artifact that holds a trial's trained model
MODEL_ARTIFACT_ATTR = "model_artifact_id"

#: how the ``pruned_reason`` of a point of the space that cannot be built begins
CANNOT_BE_BUILT = "cannot be built"

#: what ``--objectives`` can combine: the measured value and its direction
OBJECTIVES: dict[str, tuple[str, optuna.study.StudyDirection]] = {
    "accuracy": ("val_accuracy", optuna.study.StudyDirection.MAXIMIZE),
    "time": ("training_seconds", optuna.study.StudyDirection.MINIMIZE),
    "params": ("param_count", optuna.study.StudyDirection.MINIMIZE),
}


def failure_reason(exc: BaseException) -> str:
    """A one-line reason for a failed trial."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:500]


def record_result(trial: optuna.trial.Trial, result: TrainResult) -> None:
    """Store what a complete trial measured as its user attributes (search.report reads them)."""
    trial.set_user_attr("val_accuracy", result.val_accuracy)
    trial.set_user_attr("best_epoch", result.best_epoch + 1)
    trial.set_user_attr("epochs_run", result.epochs_run)
    trial.set_user_attr("training_seconds", round(result.train_seconds, 3))
    trial.set_user_attr("seconds_per_epoch", round(result.seconds_per_epoch, 3))
    trial.set_user_attr("images_per_second", round(result.images_per_second, 1))
    trial.set_user_attr("param_count", result.param_count)
    # the learning curves, so search.report draws them from Optuna alone (no MLflow needed)
    curves = ("loss", "accuracy", "val_loss", "val_accuracy")
    history = {k: [round(v, 5) if math.isfinite(v) else None for v in result.history[k]] for k in curves if k in result.history}
    trial.set_user_attr("history", history)

def record_partial(trial: optuna.trial.Trial, history: dict[str, list[float]], *, short_first: bool = False) -> None:
    """Store what a pruned or failed trial measured before it stopped (``short_first``: its first
    epoch trained on a subset of the images, so it is left out of ``seconds_per_epoch``, the pace
    of an epoch on every image; with no later epoch, the pace of its first batches stands in)."""
    seconds = history.get("epoch_seconds", [])
    if seconds:
        trial.set_user_attr("training_seconds", round(sum(seconds), 3))
        full = seconds[1:] if short_first else seconds
        if full:
            trial.set_user_attr("seconds_per_epoch", round(sum(full) / len(full), 3))
    accs = [a for a in history.get("val_accuracy", []) if math.isfinite(a)]
    if accs:
        trial.set_user_attr("val_accuracy", max(accs))

def metrics_of(trial: optuna.trial.Trial) -> dict[str, float]:
    """The numbers a trial recorded, for the observers."""
    keys = (
        "val_accuracy",
        "training_seconds",
        "seconds_per_epoch",
        "images_per_second",
        "param_count",
        "epochs_run",
        "best_epoch",
    )
    attrs = trial.user_attrs
    return {k: float(attrs[k]) for k in keys if isinstance(attrs.get(k), int | float)}
