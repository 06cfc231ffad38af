"""What a trial writes to the study: its measured values, as a :class:`~search.records.TrialRecord`.

Everything that reads a study (the summary, search.report, search.compare, the dashboard) reads
them back through the record.
"""

from __future__ import annotations

import math

import optuna

from search.records import CURVES, TrialKey, TrialRecord, WritableTrial
from search.training import TrainResult

__all__ = [
    "CANNOT_BE_BUILT",
    "MODEL_ARTIFACT_ATTR",
    "OBJECTIVES",
    "failure_reason",
    "record_partial",
    "record_result",
]

#: the user attribute naming the Optuna artifact that holds a trial's trained model
MODEL_ARTIFACT_ATTR = TrialKey.MODEL_ARTIFACT_ID

#: how the ``pruned_reason`` of a point of the space that cannot be built begins
CANNOT_BE_BUILT = "cannot be built"

#: what ``--objectives`` can combine: the measured value and its direction
OBJECTIVES: dict[str, tuple[TrialKey, optuna.study.StudyDirection]] = {
    "accuracy": (TrialKey.VAL_ACCURACY, optuna.study.StudyDirection.MAXIMIZE),
    "time": (TrialKey.TRAINING_SECONDS, optuna.study.StudyDirection.MINIMIZE),
    "params": (TrialKey.PARAM_COUNT, optuna.study.StudyDirection.MINIMIZE),
}


def failure_reason(exc: BaseException) -> str:
    """A one-line reason for a failed trial."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:500]


def record_result(trial: WritableTrial, result: TrainResult) -> None:
    """Store what a complete trial measured as its user attributes (search.report reads them)."""
    TrialRecord(
        val_accuracy=result.val_accuracy,
        best_epoch=result.best_epoch + 1,
        epochs_run=result.epochs_run,
        training_seconds=round(result.train_seconds, 3),
        seconds_per_epoch=round(result.seconds_per_epoch, 3),
        images_per_second=round(result.images_per_second, 1),
        param_count=result.param_count,
        # the learning curves, so search.report draws them from Optuna alone (no MLflow needed)
        history={
            k: [round(v, 5) if math.isfinite(v) else None for v in result.history[k]]
            for k in CURVES
            if k in result.history
        },
    ).write(trial)


def record_partial(trial: WritableTrial, history: dict[str, list[float]], *, short_first: bool = False) -> None:
    """Store what a pruned or failed trial measured before it stopped (``short_first``: its first
    epoch trained on a subset of the images, so it is left out of ``seconds_per_epoch``, the pace
    of an epoch on every image; with no later epoch, the pace of its first batches stands in)."""
    seconds = history.get("epoch_seconds", [])
    full = (seconds[1:] if short_first else seconds) if seconds else []
    accs = [a for a in history.get("val_accuracy", []) if math.isfinite(a)]
    TrialRecord(
        training_seconds=round(sum(seconds), 3) if seconds else None,
        seconds_per_epoch=round(sum(full) / len(full), 3) if full else None,
        val_accuracy=max(accs) if accs else None,
    ).write(trial)
