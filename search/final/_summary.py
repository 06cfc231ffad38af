"""What a person reads at the end: the test evaluation of the final model and the summary."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from search.data import EVAL_BATCH_SIZE, Dataset, batches
from search.figures import confusion_matrix, per_class_rows
from search.final._crossval import ModelChoice
from search.final._ensemble import Ensemble, log_loss
from search.records import TrialRecord
from search.samplers import REDRAWS_KEY
from search.training import FinalFit, fit_candidate
from search.trials import format_value, load_model_artifact
from spaces import SearchSpace

__all__ = ["SearchEffort", "SearchSummary", "TestEvaluation", "evaluate_best", "search_effort", "summarize"]

_log = logging.getLogger("search")

@dataclass
class TestEvaluation:
    """The best configuration evaluated once on the held-out test set."""

    trial_number: int
    accuracy: float
    loss: float
    y_true: np.ndarray = field(repr=False)
    y_pred: np.ndarray = field(repr=False)  # predicted class per test image
    model: keras.Model | None = field(default=None, repr=False)
    retrained: bool = False  # the stored model was missing, so the params were trained again
    class_names: tuple[str, ...] = ()
    confusion: np.ndarray | None = field(default=None, repr=False)  # rows: true class
    refit: FinalFit | None = field(default=None, repr=False)  # set when the model is the refit (--refit)
    ensemble: Ensemble | None = field(default=None, repr=False)  # set when the model is the ensemble (--ensemble)
    single_accuracy: float | None = None  # with an ensemble: the test accuracy of its best member alone

    def per_class(self) -> list[dict[str, float | int | str]]:
        """Precision, recall, F1 and support of each class."""
        assert self.confusion is not None
        return per_class_rows(self.confusion, self.class_names)


def _load_model(study: optuna.Study, trial: FrozenTrial, store: Any) -> keras.Model | None:
    artifact_id = TrialRecord.of(trial).model_artifact_id
    if store is None or not artifact_id:
        return None
    try:
        return load_model_artifact(store, str(artifact_id))
    except Exception as exc:
        _log.warning("model of trial %d not available (%s); training it again", trial.number, exc)
        return None


def _test_probabilities(model: keras.Model, data: Dataset) -> np.ndarray:
    test = batches(data.x_test, data.y_test, data.num_classes, EVAL_BATCH_SIZE, shuffle=False)
    return np.asarray(model.predict(test, verbose=0))


def evaluate_best(
    study: optuna.Study,
    trial: FrozenTrial,
    space: SearchSpace,
    data: Dataset,
    *,
    max_epochs: int,
    artifact_store: Any | None,
    final: FinalFit | None = None,
    ensemble: Ensemble | None = None,
) -> TestEvaluation:
    """Evaluate the final model of ``trial`` once on the test set (retraining its params if its
    model is gone). The loss is the cross-entropy of the predicted probabilities.

    The final model is the ensemble when there is one (:mod:`search.final`; its best member
    alone is evaluated too, for comparison), else the refit of ``trial``'s configuration when
    there is one (:mod:`search.final`), else the trial's own model.
    """
    single = final.model if final is not None else _load_model(study, trial, artifact_store)
    retrained = single is None
    if single is None:
        candidate = space.from_params(trial.params)
        single = fit_candidate(space, candidate, data, max_epochs=max_epochs).model
    single_probabilities = _test_probabilities(single, data)
    probabilities = _test_probabilities(ensemble.model, data) if ensemble is not None else single_probabilities
    y_pred = np.argmax(probabilities, axis=1)
    accuracy, loss = float(np.mean(y_pred == data.y_test)), log_loss(probabilities, data.y_test)
    single_accuracy = float(np.mean(np.argmax(single_probabilities, axis=1) == data.y_test))
    matrix = confusion_matrix(data.y_test, y_pred, data.num_classes)
    evaluation = TestEvaluation(
        trial.number, accuracy, loss, data.y_test, y_pred, ensemble.model if ensemble else single, retrained,
        tuple(data.class_names), matrix, final, ensemble, single_accuracy if ensemble else None,
    )  # fmt: skip
    study.set_user_attr(
        "test_evaluation",
        {
            "trial": trial.number,
            "accuracy": evaluation.accuracy,
            "loss": evaluation.loss,
            "retrained": retrained,
            "refit": _refit_attr(final),
            "ensemble": {**ensemble.attr(), "best_alone_accuracy": single_accuracy} if ensemble else None,
            "class_names": list(data.class_names),
            "confusion": matrix.tolist(),
            "per_class": evaluation.per_class(),
        },
    )
    return evaluation


def _refit_attr(final: FinalFit | None) -> dict[str, float | int] | None:
    if final is None:
        return None
    return {"epochs": final.epochs_run, "images": final.images, "seconds": round(final.train_seconds, 3)}


@dataclass
class SearchSummary:
    """The end of a ``search.run`` invocation."""

    study_name: str
    family: str
    dataset: str
    counts: dict[str, int]  # complete, pruned, failed, running (whole study)
    trials_this_run: int
    wall_seconds: float
    best: list[FrozenTrial]  # the best trial, or the Pareto front of a multi-objective study
    evaluation: TestEvaluation | None = None
    objectives: tuple[str, ...] = ("accuracy",)
    interrupted: bool = False  # Ctrl-C ended the invocation
    #: observers that failed during the search (e.g. MLflow logging), with their first error
    lost: dict[str, str] = field(default_factory=dict)
    choice: ModelChoice | None = None  # how the best trial was chosen, on how many images (one objective)
    effort: SearchEffort | None = None  # where the training time went (None: not counted)

    def most_accurate(self) -> FrozenTrial:
        """The best trial; of a Pareto front, the one with the highest validation accuracy."""
        return max(self.best, key=lambda t: t.values[0])

    def lines(self) -> list[str]:
        """The summary as lines of text."""
        return self._lines() + [
            f"{name} was lost from the first error on ({error}): check the logs of this run"
            for name, error in self.lost.items()
        ]

    def _lines(self) -> list[str]:
        c = self.counts
        out = [
            f"study {self.study_name} ({self.family} on {self.dataset}): "
            f"{c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed "
            f"({self.trials_this_run} this run, {self.wall_seconds:.0f}s wall time)",
        ]
        if self.effort is not None and (self.effort.preset_trials or self.effort.rejected):
            out.append(self.effort.describe())
        if not self.best:
            out.append("no completed trial yet")
            return out
        if len(self.objectives) > 1:
            out.append(f"Pareto front ({', '.join(self.objectives)}): {len(self.best)} trials")
            for t in self.best:
                vals = ", ".join(f"{n}={format_value(v)}" for n, v in zip(self.objectives, t.values))
                out.append(f"  trial {t.number}: {vals}")
            if self.evaluation is not None:
                out.append(
                    f"test accuracy of the most accurate on the front (trial {self.evaluation.trial_number}): "
                    f"{self.evaluation.accuracy:.4f}"
                )
            return out
        t = self.best[0]
        record = TrialRecord.of(t)
        out.append(
            f"best trial {t.number}"
            + (f" [{record.preset}]" if record.preset else "")
            + f": validation accuracy {t.value:.4f}, {record.training_seconds or 0:.1f}s training, "
            f"{record.param_count or 0:,} params"
        )
        if self.choice is not None:
            out.append(self.choice.describe())
        if self.evaluation is not None:
            e = self.evaluation
            how = ", retrained" if e.retrained else ""
            if e.refit is not None:
                how = (
                    f", refit on {e.refit.images:,} training + validation images for "
                    f"{e.refit.epochs_run} epochs in {e.refit.train_seconds:.0f}s"
                )
            if e.ensemble is not None:
                out.append(
                    f"test accuracy of the final model, the ensemble of {e.ensemble.describe()}: "
                    f"{e.accuracy:.4f} (loss {e.loss:.4f}); trial {e.trial_number} alone{how}: {e.single_accuracy:.4f}"
                )
            else:
                out.append(f"test accuracy of the best configuration: {e.accuracy:.4f} (loss {e.loss:.4f}{how})")
        out.append("best params: " + ", ".join(f"{k}={format_value(v)}" for k, v in t.params.items()))
        return out


@dataclass(frozen=True)
class SearchEffort:
    """Where a study's training went: the presets enqueued as trials, or the sampler's own
    candidates (a search that only replays the presets has not searched)."""

    preset_trials: int  # the presets that trained at least an epoch
    preset_seconds: float
    proposed_trials: int  # the sampler's own candidates that trained at least an epoch
    proposed_seconds: float
    rejected: int = 0  # drawn points that could not be built or trained in time, drawn again

    @property
    def proposed_share(self) -> float:
        """The sampler's own candidates' share of the training seconds (0 before any)."""
        total = self.preset_seconds + self.proposed_seconds
        return self.proposed_seconds / total if total > 0 else 0.0

    def describe(self) -> str:
        """``training time: 64% on 6 of the sampler's own candidates (512s), 36% on 2 presets (290s)``."""
        share = self.proposed_share
        text = (
            f"training time: {share:.0%} on {self.proposed_trials} of the sampler's own candidates "
            f"({self.proposed_seconds:.0f}s), {1 - share:.0%} on {self.preset_trials} "
            f"preset{'' if self.preset_trials == 1 else 's'} ({self.preset_seconds:.0f}s)"
        )
        if self.rejected:
            text += f"; {self.rejected} unbuildable or unaffordable draws rejected while sampling"
        return text


def search_effort(trials: list[FrozenTrial]) -> SearchEffort:
    """Count a study's training seconds by who proposed each trial (see :class:`SearchEffort`)."""
    presets = [t for t in trials if TrialRecord.of(t).preset]
    own = [t for t in trials if not TrialRecord.of(t).preset]

    def seconds(group: list[FrozenTrial]) -> float:
        return sum(TrialRecord.of(t).training_seconds or 0.0 for t in group)

    def trained(group: list[FrozenTrial]) -> int:
        return sum((TrialRecord.of(t).epochs_run or 0) >= 1 for t in group)

    return SearchEffort(
        preset_trials=trained(presets),
        preset_seconds=seconds(presets),
        proposed_trials=trained(own),
        proposed_seconds=seconds(own),
        rejected=sum(int(t.system_attrs.get(REDRAWS_KEY) or 0) for t in trials),
    )


def summarize(
    study: optuna.Study,
    *,
    family: str,
    dataset: str,
    trials_this_run: int,
    wall_seconds: float,
    objectives: tuple[str, ...],
) -> SearchSummary:
    """Count the study's trials and find its best (or its Pareto front)."""
    trials = study.get_trials(deepcopy=False)
    counts = {
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "running": sum(t.state == TrialState.RUNNING for t in trials),
    }
    best: list[FrozenTrial] = []
    if counts["complete"]:
        best = list(study.best_trials) if len(study.directions) > 1 else [study.best_trial]
    return SearchSummary(
        study.study_name, family, dataset, counts, trials_this_run, wall_seconds, best,
        objectives=objectives, effort=search_effort(trials),
    )  # fmt: skip
