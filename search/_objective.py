"""The Optuna objective: sample a candidate from a space, train it, record what it measured."""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import optuna
from optuna.artifacts import upload_artifact
from optuna_integration import KerasPruningCallback

from search._devices import device_description
from search._faults import Checkpoints
from search._observers import ObserverGroup, TrialOutcome, TrialStart
from search._training import TrainResult, TrialTimeBudget, fit_candidate, prepare_model
from search.data import Dataset
from spaces import Candidate, Space, TrialParams, UnbuildableError

__all__ = ["CANNOT_BE_BUILT", "MODEL_ARTIFACT_ATTR", "OBJECTIVES", "Objective", "failure_reason"]

_log = logging.getLogger(__name__)

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


class _PruneBeforeLastEpoch(KerasPruningCallback):
    """optuna-integration's pruning callback, except after a trial's last planned epoch.

    A trial that has trained all its epochs holds a finished model: its last value is reported, but
    the pruner is not asked, so a rung that falls on the last epoch (successive halving's epoch 10
    of 10) cannot throw away a complete training as "pruned".
    """

    def __init__(self, trial: optuna.trial.Trial, monitor: str) -> None:
        super().__init__(trial, monitor)
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch + 1 < self.params.get("epochs", 0):  # the epochs model.fit was given
            super().on_epoch_end(epoch, logs)
        elif (value := (logs or {}).get(self.monitor)) is not None:
            self.trial.report(float(value), step=epoch)


class _EpochForwarder(keras.callbacks.Callback):
    """Forwards every epoch's logs to the observers and keeps them for a pruned trial's record."""

    def __init__(self, trial: optuna.trial.Trial, observers: ObserverGroup) -> None:
        super().__init__()
        self.trial, self.observers = trial, observers
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        self.observers.on_epoch_end(self.trial, epoch, logs)


@dataclass
class Objective:
    """Trains one candidate per trial; the value is the best validation accuracy over its epochs.

    Args:
        space: the family searched.
        data: the data set, loaded once per process and shared by every trial.
        max_epochs: cap on every candidate's epochs; also Hyperband's maximum resource.
        observers: console/MLflow observers, called at each step of a trial.
        artifact_store: where the models of the best trials are kept (Optuna artifacts).
        verbose: show Keras' per-epoch output.
        objectives: names from :data:`OBJECTIVES`; several make a multi-objective study.
        prune: report each epoch to Optuna's pruner (single-objective studies only).
        trial_seconds: stop (prune) a trial still training after this long (None: no limit).
        search_end: when the search ends (``time.monotonic``; None: never), asked as each trial
            starts; a trial still training then stops, like one whose ``trial_seconds`` ran out.
        checkpoints: save the model after every epoch, so a retried trial resumes from its
            predecessor's last completed epoch; deleted when the trial ends (None: no checkpoints).
        jit: compile every model's training step with XLA.
        patience: stop a trial whose validation accuracy has not improved for this many epochs
            (None: never). Optuna's pruners cannot judge several objectives at once, so
            multi-objective studies stop hopeless trials this way instead.
        seed: with ``--seed``, each trial's weights and data order start from ``seed`` plus its
            number, so the same study trains the same models again (None: fresh randomness).
        keep_models: keep the model of a trial that is among this many best complete trials when
            it ends (1: only a new best; more for ``--ensemble``). Multi-objective studies keep
            the models of trials on the Pareto front.
    """

    space: Space
    data: Dataset
    max_epochs: int
    observers: ObserverGroup
    artifact_store: Any | None = None
    verbose: bool = False
    objectives: tuple[str, ...] = ("accuracy",)
    prune: bool = True
    trial_seconds: float | None = None
    search_end: Callable[[], float | None] | None = None
    checkpoints: Checkpoints | None = None
    patience: int | None = None
    jit: bool = False  # compile each model's training step with XLA (--jit)
    keep_models: int = 1  # the models of this many best trials are kept (the ensemble's library)
    seed: int | None = None  # trial N's Keras/NumPy/Python randomness starts from seed + N

    def __call__(self, trial: optuna.trial.Trial) -> float | tuple[float, ...]:
        candidate = self.space.sample(TrialParams(trial))
        epochs = min(candidate.train.epochs, self.max_epochs)
        trial.set_user_attr("epochs_planned", epochs)
        trial.set_user_attr("device", device_description())
        forwarder = _EpochForwarder(trial, self.observers)
        callbacks: list[keras.callbacks.Callback] = [forwarder]
        resume = self.checkpoints.restore(trial) if self.checkpoints else None
        saver = None
        if self.checkpoints is not None:
            saver = self.checkpoints.callback(trial, resume.history if resume else None)
            callbacks.append(saver)
        if self.prune:
            callbacks.append(_PruneBeforeLastEpoch(trial, "val_accuracy"))
        seconds = self._seconds_allowed()
        budget = TrialTimeBudget(seconds) if seconds is not None else None
        if budget is not None:
            callbacks.append(budget)
        if self.patience:
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=self.patience)
            )
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed + trial.number)
        initial_epoch = 0
        if resume is not None:  # a retry of a trial whose worker died: go on where it stopped
            initial_epoch = min(resume.epoch, epochs - 1)
            trial.set_user_attr("resumed_from_trial", resume.source_trial)
            trial.set_user_attr("resumed_from_epoch", initial_epoch)
        try:
            if resume is not None:
                model = resume.model
            else:
                model = self._build(candidate)
            trial.set_user_attr("param_count", int(model.count_params()))
            self.observers.on_trial_start(
                TrialStart(
                    trial=trial,
                    family=self.space.name,
                    params=dict(trial.params),
                    candidate=candidate,
                    model=model,
                    epochs=epochs,
                    preset=trial.user_attrs.get("preset"),
                )
            )
            result = fit_candidate(
                self.space,
                candidate,
                self.data,
                max_epochs=self.max_epochs,
                callbacks=callbacks,
                verbose=self.verbose,
                model=model,
                initial_epoch=initial_epoch,
            )
        except optuna.TrialPruned as pruned:
            trial.set_user_attr("pruned_reason", str(pruned) or "pruner")
            done = len(forwarder.history.get("val_accuracy", []))
            trial.set_user_attr("pruned_epoch", done)
            trial.set_user_attr("epochs_run", done)
            self._end_unfinished(trial, saver, forwarder.history, optuna.trial.TrialState.PRUNED, pruned_epoch=done)
            raise
        except Exception as exc:
            reason = failure_reason(exc)
            trial.set_user_attr("fail_reason", reason)
            self._end_unfinished(trial, saver, forwarder.history, optuna.trial.TrialState.FAIL, error=reason)
            raise
        self._end_checkpoints(trial, saver)
        if budget is not None and budget.stopped:
            trial.set_user_attr("stopped_by_time_budget", True)
        self._record(trial, result)
        self._keep_if_good(trial, result)
        self.observers.on_trial_end(
            TrialOutcome(
                trial,
                optuna.trial.TrialState.COMPLETE,
                result.val_accuracy,
                metrics=self._metrics_of(trial),
                history=result.history,
                model=result.model,
            )
        )
        if len(self.objectives) == 1 and self.objectives[0] == "accuracy":
            return result.val_accuracy
        attrs = trial.user_attrs
        return tuple(float(attrs[OBJECTIVES[name][0]]) for name in self.objectives)

    def _build(self, candidate: Candidate) -> keras.Model:
        """The trial's compiled model; a point that cannot be built is pruned, not failed: Optuna's
        samplers ignore failed trials (and TPE would sample the region again), while TPE ranks a
        pruned trial with no epoch below every other, as Optuna's maintainers advise for
        infeasible points (optuna/optuna#566)."""
        try:
            return prepare_model(self.space, candidate, self.data, jit=self.jit)
        except UnbuildableError as exc:
            raise optuna.TrialPruned(f"{CANNOT_BE_BUILT}: {exc}") from exc

    def _seconds_allowed(self) -> float | None:
        """How long a trial starting now may train: its own budget, up to the search's end."""
        end = self.search_end() if self.search_end is not None else None
        if end is None:
            return self.trial_seconds
        left = max(0.0, end - time.monotonic())
        return left if self.trial_seconds is None else min(self.trial_seconds, left)

    def _end_unfinished(
        self,
        trial: optuna.trial.Trial,
        saver: Any,
        history: dict[str, list[float]],
        state: optuna.trial.TrialState,
        *,
        pruned_epoch: int | None = None,
        error: str | None = None,
    ) -> None:
        """A pruned or failed trial: drop its checkpoints, record its epochs, tell the observers."""
        self._end_checkpoints(trial, saver)
        self._record_partial(trial, history)
        outcome = TrialOutcome(
            trial, state, None, metrics=self._metrics_of(trial), history=history, pruned_epoch=pruned_epoch, error=error
        )
        self.observers.on_trial_end(outcome)

    def _end_checkpoints(self, trial: optuna.trial.Trial, saver: Any) -> None:
        """The trial ended (not interrupted): record what checkpoints cost, then delete them."""
        if self.checkpoints is None:
            return
        if saver is not None and saver.seconds:
            per_epoch = sum(saver.seconds) / len(saver.seconds)
            trial.set_user_attr("checkpoint_seconds_per_epoch", round(per_epoch, 4))
        self.checkpoints.discard(trial.number, *self.checkpoints.predecessors(trial))

    @staticmethod
    def _record(trial: optuna.trial.Trial, result: TrainResult) -> None:
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

    @staticmethod
    def _record_partial(trial: optuna.trial.Trial, history: dict[str, list[float]]) -> None:
        seconds = history.get("epoch_seconds", [])
        if seconds:
            trial.set_user_attr("training_seconds", round(sum(seconds), 3))
            trial.set_user_attr("seconds_per_epoch", round(sum(seconds) / len(seconds), 3))
        accs = [a for a in history.get("val_accuracy", []) if math.isfinite(a)]
        if accs:
            trial.set_user_attr("val_accuracy", max(accs))

    @staticmethod
    def _metrics_of(trial: optuna.trial.Trial) -> dict[str, float]:
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

    def _keep_if_good(self, trial: optuna.trial.Trial, result: TrainResult) -> None:
        """Store the model of a trial among the :attr:`keep_models` best completed so far."""
        if self.artifact_store is None or not self._is_kept(trial, result):
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trial-{trial.number}.keras"
            result.model.save(path)
            artifact_id = upload_artifact(
                artifact_store=self.artifact_store, file_path=str(path), study_or_trial=trial
            )
        trial.set_user_attr(MODEL_ARTIFACT_ATTR, artifact_id)

    def _is_kept(self, trial: optuna.trial.Trial, result: TrainResult) -> bool:
        """Fewer than :attr:`keep_models` completed trials beat it (one objective; with 1, it
        beats them all), or no trial dominates it (several)."""
        study = trial.study
        if len(self.objectives) == 1:
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            better = sum(t.values[0] >= result.val_accuracy for t in complete if t.number != trial.number)
            return better < self.keep_models
        attrs = trial.user_attrs
        mine = [float(attrs[OBJECTIVES[n][0]]) for n in self.objectives]
        signs = [1 if OBJECTIVES[n][1] == optuna.study.StudyDirection.MAXIMIZE else -1 for n in self.objectives]
        for other in study.best_trials:
            theirs = other.values
            if all(s * t >= s * m for s, t, m in zip(signs, theirs, mine)) and any(
                s * t > s * m for s, t, m in zip(signs, theirs, mine)
            ):
                return False
        return True
