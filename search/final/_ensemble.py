"""The final model as an ensemble of the search's best trials (``--ensemble N``).

A search trains many models and keeps one. Averaging the class probabilities of several good,
different models is more accurate than the best of them alone, and costs no training: their
models are already trained. Members are chosen on the validation images alone by Caruana et al.'s
ensemble selection ("Ensemble selection from libraries of models", ICML 2004), as auto-sklearn and
AutoGluon do: start from the best trial, then repeatedly add (with replacement) the trial whose
model lowers the averaged validation log loss the most, up to ``N`` rounds, stopping when no model
helps; a trial chosen twice weighs twice. The library is the models the search kept: the
:data:`LIBRARY_FACTOR` times ``N`` best complete trials (:class:`~search.trials.Objective`
keeps their models). The test set is not looked at.

With ``--refit``, the best trial's configuration was also trained on training and validation
images (as AutoGluon's ``refit_full`` refits its members). The refit cannot be validated (it has
seen the validation images), and one training of a configuration can be worse than another, so it
does not replace the trial's own model: the two share the best trial's weight. Averaging two
trainings of one configuration is never worse in log loss than their mean (the loss is convex) and
is usually better than either (measured: README, Benchmarks).

The ensemble is one Keras model (the members side by side, their outputs weighted by Keras'
``Rescaling`` and summed by ``Add``: no custom layer, so it loads without this package), stored
in the Optuna artifact store as the study's final model, so
``search.predict`` loads it like any other.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial, TrialState

from search.data import EVAL_BATCH_SIZE, Dataset, batches
from search.final._refit import FINAL_MODEL_ATTR
from search.records import TrialRecord
from search.trials import load_model_artifact

__all__ = [
    "LIBRARY_FACTOR",
    "Ensemble",
    "WeightedAverage",
    "average_model",
    "build_ensemble",
    "log_loss",
    "save_ensemble",
    "select",
]

_log = logging.getLogger("search")

#: how many of the best complete trials keep their models, per member of ``--ensemble``
LIBRARY_FACTOR = 2


@keras.saving.register_keras_serializable(package="search")
class WeightedAverage(keras.layers.Layer):
    """The weighted mean of its inputs (class probabilities of the members).

    Kept so that ensembles saved by earlier versions still load; :func:`average_model` now uses
    Keras' own layers, which a process without this package can load too.
    """

    def __init__(self, weights: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        total = float(sum(weights))
        self.member_weights = [float(w) / total for w in weights]

    def call(self, inputs: list[Any]) -> Any:
        out = inputs[0] * self.member_weights[0]
        for x, w in zip(inputs[1:], self.member_weights[1:], strict=True):
            out = out + x * w
        return out

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weights": self.member_weights}


@dataclass
class Ensemble:
    """The selected members and their averaged model."""

    members: tuple[int, ...]  # trial numbers, the best trial first
    weights: tuple[float, ...]  # summing to 1, in the order of ``members``
    val_accuracy: float  # of the averaged trial models on the validation images
    best_val_accuracy: float  # of the best trial alone, for comparison
    refit_member: int | None  # the member whose refit (--refit) shares its weight, if any
    model: keras.Model = field(repr=False)

    def describe(self) -> str:
        """``trials 3 (and its refit), 1, 7 (weights 0.50, 0.25, 0.25)``."""
        names = [f"{t} (and its refit)" if t == self.refit_member else str(t) for t in self.members]
        return f"trials {', '.join(names)} (weights {', '.join(f'{w:.2f}' for w in self.weights)})"

    def attr(self) -> dict[str, Any]:
        """What the study's final-model attribute records of the ensemble."""
        return {
            "members": list(self.members),
            "weights": [round(w, 4) for w in self.weights],
            "val_accuracy": self.val_accuracy,
            "refit_member": self.refit_member,
        }


def log_loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log probability of the true classes."""
    p = probabilities[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(p, 1e-7, 1.0))))


def select(probabilities: Sequence[np.ndarray], y: np.ndarray, rounds: int) -> list[int]:
    """Caruana's greedy ensemble selection with replacement.

    Args:
        probabilities: each candidate's class probabilities on the validation images, the best
            candidate first (it starts the ensemble).
        y: the validation labels.
        rounds: at most this many picks (the first included).

    Returns:
        How often each candidate was picked (0 for those left out).
    """
    counts = [0] * len(probabilities)
    if not probabilities or rounds < 1:
        return counts
    counts[0], total, picked = 1, probabilities[0].astype(np.float64), 1
    current = log_loss(total, y)
    for _ in range(rounds - 1):
        losses = [log_loss((total + p) / (picked + 1), y) for p in probabilities]
        j = int(np.argmin(losses))
        if losses[j] >= current - 1e-9:  # no model helps any more
            break
        total, picked, current = total + probabilities[j], picked + 1, losses[j]
        counts[j] += 1
    return counts


def _predict(model: keras.Model, x: np.ndarray, num_classes: int) -> np.ndarray:
    y = np.zeros(len(x), dtype=np.int64)  # labels are not used by predict
    return np.asarray(model.predict(batches(x, y, num_classes, EVAL_BATCH_SIZE, shuffle=False), verbose=0))


def average_model(models: Sequence[keras.Model], weights: Sequence[float], input_shape: tuple[int, ...]) -> keras.Model:
    """One model whose output is the weighted mean of ``models``' outputs.

    Built from Keras' own layers (each member's output scaled by ``Rescaling``, then ``Add``), so
    the saved model loads anywhere, in a process that never imported this package (``mlflow models
    serve``); :class:`WeightedAverage` stays registered for ensembles saved before.
    """
    total = float(sum(weights))
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # the members are float32: so is their average
    try:
        inputs = keras.Input(shape=input_shape, name="image")
        outputs = [
            keras.layers.Rescaling(float(w) / total, name=f"weight_{i}")(
                keras.Model(m.input, m.output, name=f"member_{i}")(inputs)
            )
            for i, (m, w) in enumerate(zip(models, weights, strict=True))
        ]
        averaged = outputs[0] if len(outputs) == 1 else keras.layers.Add(name="classes")(outputs)
        return keras.Model(inputs, averaged, name="ensemble")
    finally:
        keras.mixed_precision.set_global_policy(policy)


def build_ensemble(
    study: optuna.Study,
    best: FrozenTrial,
    data: Dataset,
    artifact_store: Any,
    *,
    size: int,
    refit_model: keras.Model | None = None,
) -> Ensemble | None:
    """Select the ensemble of the study's kept models and build its model.

    Args:
        study: the (single-objective) study.
        best: its best trial: the first member.
        data: the data set; its validation images choose the members.
        artifact_store: where the trials' models are.
        size: ``--ensemble``: at most this many picks.
        refit_model: the refit of ``best`` (``--refit``): it shares ``best``'s weight with the
            trial's own model.

    Returns:
        The ensemble, or None when no other model improves on the best alone (or none was kept).
    """
    complete = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if TrialRecord.of(t).model_artifact_id and t.values and math.isfinite(t.values[0])
    ]  # fmt: skip
    library = [best] + sorted(
        (t for t in complete if t.number != best.number), key=lambda t: t.values[0], reverse=True
    )[: LIBRARY_FACTOR * size - 1]
    if len(library) < 2 or not TrialRecord.of(best).model_artifact_id:
        return None
    _log.info(
        "ensemble: choosing up to %d picks among the models of trials %s on validation images",
        size, ", ".join(str(t.number) for t in library),
    )  # fmt: skip
    trials: list[FrozenTrial] = []
    models: list[keras.Model] = []
    probabilities: list[np.ndarray] = []
    for trial in library:
        try:
            model = load_model_artifact(artifact_store, str(TrialRecord.of(trial).model_artifact_id), compile=False)
        except Exception as exc:  # a model deleted by hand: choose among the others
            _log.warning("model of trial %d not available for the ensemble (%s)", trial.number, exc)
            if trial is best:
                return None
            continue
        trials.append(trial)
        models.append(model)
        probabilities.append(_predict(model, data.x_val, data.num_classes))
    counts = select(probabilities, data.y_val, size)
    chosen = [i for i, c in enumerate(counts) if c]
    if len(chosen) < 2:
        _log.info("ensemble: no other model improves on trial %d alone on the validation images", best.number)
        return None
    weights = [counts[i] / sum(counts) for i in chosen]
    averaged = sum(w * probabilities[i] for w, i in zip(weights, chosen, strict=True))
    members, member_weights = [models[i] for i in chosen], list(weights)
    if refit_model is not None:  # chosen[0] is the best trial: it always starts the ensemble
        members.insert(1, refit_model)
        member_weights[:1] = [weights[0] / 2, weights[0] / 2]
    model = average_model(members, member_weights, data.input_shape)
    return Ensemble(
        members=tuple(trials[i].number for i in chosen),
        weights=tuple(weights),
        val_accuracy=float(np.mean(np.argmax(averaged, axis=1) == data.y_val)),
        best_val_accuracy=float(np.mean(np.argmax(probabilities[0], axis=1) == data.y_val)),
        refit_member=best.number if refit_model is not None else None,
        model=model,
    )


def save_ensemble(study: optuna.Study, ensemble: Ensemble, store: Any) -> str:
    """Upload the ensemble's model to ``store`` and make it the study's final model (the study
    attribute :data:`~search.final.FINAL_MODEL_ATTR`, which keeps what a refit of the same
    trial recorded, its model as ``refit_artifact_id``); returns the artifact id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ensemble.keras"
        ensemble.model.save(path)
        artifact_id = str(upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study))
    best = ensemble.members[0]
    attr = dict(study.user_attrs.get(FINAL_MODEL_ATTR) or {})
    if attr.get("trial") != best or ensemble.refit_member is None:
        attr = {}  # an older final model, of another trial or invocation
    if "artifact_id" in attr:
        attr["refit_artifact_id"] = attr["artifact_id"]
    attr.update(trial=best, artifact_id=artifact_id, ensemble=ensemble.attr())
    study.set_user_attr(FINAL_MODEL_ATTR, attr)
    return artifact_id
