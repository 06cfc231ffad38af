"""Which trials' models are kept: the library the final model and the ensemble are drawn from."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import upload_artifact

from search.records import TrialRecord
from search.training import TrainResult
from search.trials._records import OBJECTIVES

__all__ = ["ModelKeeper"]


@dataclass
class ModelKeeper:
    """Keeps the model of a trial that is among the :attr:`keep` best complete trials when it
    ends (one objective), or on the Pareto front (several), as an Optuna artifact.

    Args:
        artifact_store: where the models are kept (None: nowhere).
        objectives: the study's objectives (names from :data:`~search.trials.OBJECTIVES`).
        keep: how many best models to keep (1: only a new best; more for ``--ensemble``).
    """

    artifact_store: Any | None
    objectives: tuple[str, ...] = ("accuracy",)
    keep: int = 1

    def keep_if_good(self, trial: optuna.trial.Trial, result: TrainResult) -> None:
        """Store the model of a trial among the :attr:`keep` best completed so far."""
        if self.artifact_store is None or not self.is_kept(trial, result):
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trial-{trial.number}.keras"
            result.model.save(path)
            artifact_id = upload_artifact(
                artifact_store=self.artifact_store, file_path=str(path), study_or_trial=trial
            )
        TrialRecord(model_artifact_id=artifact_id).write(trial)

    def is_kept(self, trial: optuna.trial.Trial, result: TrainResult) -> bool:
        """Fewer than :attr:`keep` completed trials beat it (one objective; with 1, it
        beats them all), or no trial dominates it (several)."""
        study = trial.study
        if len(self.objectives) == 1:
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            better = sum(t.values[0] >= result.val_accuracy for t in complete if t.number != trial.number)
            return better < self.keep
        record = TrialRecord.of(trial)
        mine = [float(record.get(OBJECTIVES[n][0])) for n in self.objectives]
        signs = [1 if OBJECTIVES[n][1] == optuna.study.StudyDirection.MAXIMIZE else -1 for n in self.objectives]
        for other in study.best_trials:
            theirs = other.values
            if all(s * t >= s * m for s, t, m in zip(signs, theirs, mine)) and any(
                s * t > s * m for s, t, m in zip(signs, theirs, mine)
            ):
                return False
        return True
