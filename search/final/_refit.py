"""The final model (``--refit``): the best configuration trained again on every labelled image.

A search chooses a configuration and its epoch count on the validation split. Once they are
chosen, the validation images need not be held out any more: training the configuration again on
the training and validation splits together (10% more images by default) gives the final model,
as keras-tuner's guide advises ("retrain the model with the entire dataset"). The test split is
still touched once, after. Within ``--timeout`` the refit is budgeted: the search ends early enough
to leave it the time the best trial's measured pace says it needs (:func:`refit_reserve`).
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial, TrialState

from search.core import WALL_CLOCK, Clock
from search.data import Dataset
from search.policy import DEFAULT_TIME_POLICY, TimePolicy
from search.records import TrialRecord
from search.training import KERAS_TRAINER, FinalFit, Trainer
from spaces import SearchSpace

__all__ = ["FINAL_MODEL_ATTR", "RefitPlan", "plan_refit", "refit", "refit_reserve"]

_log = logging.getLogger("search")

#: the study user attribute describing the final model: its artifact, trial, epochs and images
FINAL_MODEL_ATTR = "final_model"


@dataclass(frozen=True)
class RefitPlan:
    """How the final model of one trial's configuration is trained."""

    trial: int
    epochs: int  # the last epoch within one standard error of the trial's best validation
    # accuracy; all it planned if its time budget stopped it while it was still improving
    schedule_epochs: int  # the trial's planned epochs: the learning-rate schedule spans them, as in the trial
    seconds: float  # expected wall time: the trial's seconds per epoch, scaled by the extra images
    validated: int = 0  # epochs the trial trained and validated (0: as many as ``epochs``)

    def within(self, seconds: float, min_epoch_share: float = DEFAULT_TIME_POLICY.min_epoch_share) -> RefitPlan | None:
        """This plan, with fewer epochs if it needs more than ``seconds`` (the schedule then spans
        the epochs it trains, so a cosine decay still ends at 0); None when fewer than
        ``min_epoch_share`` of its epochs (rule ``refit-shrink`` of
        :class:`~search.policy.TimePolicy`, which says why), nor all the epochs its trial
        validated, would fit."""
        if self.seconds <= seconds:
            return self
        per_epoch = self.seconds / self.epochs
        epochs = min(int(seconds / per_epoch + 1e-9), self.epochs)
        floor = math.ceil(self.epochs * min_epoch_share)
        if self.validated:
            floor = min(floor, self.validated)
        if epochs < max(1, floor):
            return None
        return RefitPlan(self.trial, epochs, epochs, per_epoch * epochs, self.validated)


def plan_refit(trial: FrozenTrial, data: Dataset, policy: TimePolicy = DEFAULT_TIME_POLICY) -> RefitPlan | None:
    """The refit of ``trial``'s configuration, or None when the trial did not record its pace; its
    time is the trial's pace times ``policy``'s ``refit_safety`` (rule ``refit-reserve``)."""
    record = TrialRecord.of(trial)
    per_epoch, best, planned = record.seconds_per_epoch, record.best_epoch, record.epochs_planned
    if not (per_epoch and best and planned):
        return None
    epochs = _plateau_end(trial, int(best), len(data.y_val))
    # a clock stops a trial within an epoch: a best at its last whole epoch (or at the cut one)
    # means it was still improving, so the refit trains all it planned, not only the epochs the
    # clock let it reach
    if record.stopped_by_time_budget and best >= (record.epochs_run or 0) - 1:
        epochs = int(planned)
    scale = (len(data.y_train) + len(data.y_val)) / len(data.y_train)
    validated = record.epochs_run or 0
    seconds = float(per_epoch) * epochs * scale * policy.refit_safety
    return RefitPlan(trial.number, epochs, int(planned), seconds, validated)


def _plateau_end(trial: FrozenTrial, best: int, val_images: int) -> int:
    """The last epoch whose validation accuracy is within one standard error of the trial's best
    (its reports, one per epoch; ``best`` without them). On a plateau the epoch of the best is a
    draw among equals: 003 peaked at 0.926 after 6 of 10 epochs and stayed within 0.003 of it; refit
    for 6 epochs it scored 0.9166 on the test set, refit for 10 it scored 0.9227-0.9248 in three
    runs (docs/history.md). The refit sees 10 % more images, and trains to the plateau's end."""
    curve = trial.intermediate_values
    if not curve or val_images <= 0:
        return best
    top = max(curve.values())
    if not 0.0 <= top <= 1.0:  # not an accuracy
        return best
    error = math.sqrt(top * (1.0 - top) / val_images)
    return max(best, max(step + 1 for step, value in curve.items() if value >= top - error))


def refit_reserve(
    study: optuna.Study, data: Dataset, budget: float | None = None, policy: TimePolicy = DEFAULT_TIME_POLICY
) -> float:
    """Seconds to keep for refitting the study's best trial so far (0 before one completes), at
    most ``policy``'s ``max_refit_share`` of ``budget`` (``--timeout``; None: no cap): on a slow
    machine the refit then trains fewer epochs rather than starving the search."""
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    if not complete:
        return 0.0
    best = max(complete, key=lambda t: t.values[0])
    plan = plan_refit(best, data, policy)
    seconds = plan.seconds if plan is not None else 0.0
    return policy.reserve(seconds, budget)


def refit(
    study: optuna.Study,
    trial: FrozenTrial,
    space: SearchSpace,
    data: Dataset,
    *,
    end: float | None,
    artifact_store: Any | None,
    jit: bool = False,
    clock: Clock = WALL_CLOCK,
    trainer: Trainer = KERAS_TRAINER,
    policy: TimePolicy = DEFAULT_TIME_POLICY,
) -> FinalFit | None:
    """Train ``trial``'s configuration on every labelled image and keep it as the study's final model.

    Args:
        study: the study; its :data:`FINAL_MODEL_ATTR` names the model afterwards.
        trial: the trial whose configuration and epochs are trained again.
        space: its family.
        data: the data set.
        end: when the invocation must be done (``end``, on ``clock``; None: no limit). A refit
            that is not expected to end by then does not start; one that overruns stops at ``end``.
        artifact_store: where the final model is kept (None: not kept).
        jit: compile the training step with XLA.
        clock: where ``end``'s time comes from (default: the wall clock).
        trainer: what trains it (default: Keras; a simulator's replays recorded curves).
        policy: the time policy its plan follows (rules ``refit-reserve``, ``refit-shrink``).

    Returns:
        The final fit, or None when there was no time for it or the trial did not record its pace
        (the trial's own model is then the final one; a warning says why).
    """
    plan = plan_refit(trial, data, policy)
    if plan is None:
        _log.warning("trial %d recorded no training pace; its own model is the final one", trial.number)
        return None
    left = None if end is None else end - clock.now()
    if left is not None and left < plan.seconds / policy.refit_safety:
        shrunk = plan.within(left, policy.min_epoch_share)
        if shrunk is None:
            _log.warning(
                "no time left to refit trial %d (needs about %.0fs, %.0fs left); its own model is the final one",
                trial.number, plan.seconds / policy.refit_safety, max(0.0, left),
            )  # fmt: skip
            return None
        _log.info("the refit of trial %d trains %d of its %d epochs, to fit the %.0fs left", trial.number, shrunk.epochs, plan.epochs, left)
        plan = shrunk
    _log.info(
        "refitting trial %d on %d images (training + validation) for %d epochs, about %.0fs",
        trial.number, len(data.y_train) + len(data.y_val), plan.epochs, plan.seconds / policy.refit_safety,
    )  # fmt: skip
    candidate = space.from_params(trial.params)
    fit = trainer.fit_final(
        space, candidate, data, epochs=plan.epochs, schedule_epochs=plan.schedule_epochs, deadline=end, jit=jit,
        clock=clock,
    )  # fmt: skip
    if not fit.finished:
        _log.warning(
            "the refit of trial %d ran out of time after %d of %d epochs; its own model is the final one",
            trial.number, fit.epochs_run, plan.epochs,
        )  # fmt: skip
        return None
    attr: dict[str, Any] = {
        "trial": trial.number,
        "epochs": fit.epochs_run,
        "images": fit.images,
        "seconds": round(fit.train_seconds, 3),
    }
    if artifact_store is not None:
        attr["artifact_id"] = _save(study, fit.model, artifact_store)
    study.set_user_attr(FINAL_MODEL_ATTR, attr)
    return fit


def _save(study: optuna.Study, model: keras.Model, store: Any) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "final-model.keras"
        model.save(path)
        return str(upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study))
