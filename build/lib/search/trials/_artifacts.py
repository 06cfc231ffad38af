"""Figures kept in Optuna's artifact store, so optuna-dashboard tells the same story as MLflow.

Each finished trial (complete or pruned) gets its learning curves as a PNG, and the study gets the
best configuration's confusion matrix and per-class table after the test evaluation;
optuna-dashboard shows them on the trial's and the study's pages.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import download_artifact, upload_artifact

from search.figures import confusion_png, learning_curves_png, markdown_table
from search.trials._observers import TrialObserver, TrialOutcome

__all__ = ["OptunaArtifacts", "load_model_artifact"]

_log = logging.getLogger(__name__)


def load_model_artifact(store: Any, artifact_id: str, *, compile: bool = True) -> Any:
    """The Keras model stored as ``artifact_id`` in ``store`` (``compile``: with its optimizer and loss).

    Raises:
        Exception: whatever the store raises for a missing artifact.
    """
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact_id)
        return keras.models.load_model(path, compile=compile)


class OptunaArtifacts(TrialObserver):
    """Uploads learning curves per trial and the test evaluation per study to an artifact store.

    Args:
        store: an Optuna artifact store (the one the best models go to).
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def on_trial_end(self, outcome: TrialOutcome) -> None:
        if outcome.state == optuna.trial.TrialState.FAIL or not outcome.history.get("loss"):
            return
        trial = outcome.trial
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"learning_curves_trial_{trial.number}.png"
            learning_curves_png(outcome.history, path, f"trial {trial.number} ({outcome.state.name.lower()})")
            upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=trial)

    def on_search_end(self, study: optuna.Study, summary: Any) -> None:
        evaluation = summary.evaluation
        if evaluation is None or evaluation.confusion is None:
            return
        model = f"trial {evaluation.trial_number}" + (" refit" if evaluation.refit is not None else "")
        if evaluation.ensemble is not None:
            model = f"ensemble of {evaluation.ensemble.describe()}"
        title = f"{model} on the test set: accuracy {evaluation.accuracy:.4f}"
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp) / f"confusion_matrix_trial_{evaluation.trial_number}.png"
            confusion_png(evaluation.confusion, evaluation.class_names, png, title)
            table = Path(tmp) / f"per_class_trial_{evaluation.trial_number}.md"
            table.write_text(f"# {title}\n\n" + markdown_table(evaluation.per_class()))
            for path in (png, table):
                upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=study)
