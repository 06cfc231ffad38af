"""Reading finished work back from the study storage: for ``search.compare``, ``search.report``
and ``search.predict``. Only reads; never changes a study.

>>> study = load_study("sqlite:///storage/optuna.db", study_name_for("cnn", None, None))  # doctest: +SKIP
>>> study_row(study).best_val_accuracy  # doctest: +SKIP
0.9213
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact
from optuna.trial import FrozenTrial, TrialState

from search.core import MADE_IN_SESSION, SearchSettings, StorageError, UsageError, redact
from search.final import FINAL_MODEL_ATTR, MODEL_CHOICE_ATTR
from search.records import TrialRecord
from search.storages import open_storage

if TYPE_CHECKING:
    import keras

_log = logging.getLogger("search")

__all__ = [
    "StudyRow",
    "best_trial",
    "final_model_of",
    "import_space_of",
    "load_best_model",
    "load_study",
    "open_studies",
    "studies_of_space",
    "study_name_for",
    "study_row",
]


@dataclass(frozen=True)
class StudyRow:
    """One study in the comparison table (times in seconds; None where not known)."""

    study: str
    family: str
    dataset: str
    engine: str
    complete: int
    pruned: int
    failed: int
    best_trial: int | None
    best_val_accuracy: float | None
    test_accuracy: float | None  # of the best configuration, from the final evaluation
    best_training_seconds: float | None
    search_seconds: float  # the trials' own durations, summed (workers in parallel count each)
    best_params: int | None  # parameter count of the best trial's model

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict, keyed by field name."""
        return asdict(self)


def _storage(url: str) -> optuna.storages.BaseStorage:
    try:
        return open_storage(url)
    except StorageError as exc:
        raise UsageError(str(exc)) from None


def open_studies(url: str, names: list[str] | None = None) -> list[optuna.Study]:
    """The studies called ``names`` in the storage at ``url`` (every study when ``names`` is empty).

    Args:
        url: an Optuna storage URL.
        names: study names; ``None`` or empty for every study in the storage.

    Returns:
        The studies, in the order of ``names`` (else the storage's order).

    Raises:
        UsageError: the storage cannot be opened, or a named study is not in it.
    """
    storage = _storage(url)
    known = optuna.get_all_study_names(storage)
    missing = [n for n in names or [] if n not in known]
    if missing:
        raise UsageError(
            f"no study {', '.join(map(repr, missing))} in {redact(url)}; it has: {', '.join(known) or 'none'}"
        )
    return [optuna.load_study(study_name=n, storage=storage) for n in (names or known)]


def study_name_for(
    family: str,
    dataset: str | None,
    explicit: str | None,
    engine: str = "optuna",
    tuner: str = "hyperband",
) -> str:
    """The study ``search.run --study family [--dataset] [--study-name] [--engine] [--tuner]`` writes to.

    Args:
        family: a registered space family (``lenet``, ``cnn``, ...).
        dataset: the ``--dataset`` given (a name or a path), or ``None`` for the family's default.
        explicit: the ``--study-name`` given, which wins when set.
        engine: ``--engine``: keras-tuner's studies have their own names.
        tuner: ``--tuner``, with ``--engine keras-tuner``.

    Returns:
        ``explicit``, else :func:`search.core.study_name` of the family and data set, as ``search.run``.

    Raises:
        UsageError: ``family`` is not a registered family.
    """
    if explicit:
        return explicit
    settings = SearchSettings(family, dataset=dataset, engine=engine, tuner=tuner)
    try:
        return settings.resolved_study_name
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None


def studies_of_space(studies: list[optuna.Study], spec: str) -> list[optuna.Study]:
    """The studies that searched the space ``spec`` names (a family or ``search.run --space SPEC``).

    Raises:
        UsageError: ``spec`` names no family or space.
    """
    from spaces import get_space

    try:
        space = get_space(spec)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    return [s for s in studies if s.user_attrs.get("space", s.user_attrs.get("family")) in (space.spec, space.name)]


def load_study(url: str, name: str) -> optuna.Study:
    """One study, by name.

    Args:
        url: an Optuna storage URL.
        name: the study's name.

    Returns:
        The study.

    Raises:
        UsageError: the storage cannot be opened or has no such study (see :func:`open_studies`).
    """
    return open_studies(url, [name])[0]


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial: the highest validation accuracy (also on a Pareto front), or the
    trial cross-validation chose instead (``--cv``) while no trial has beaten the one it was chosen over.

    Args:
        study: a single- or multi-objective study whose first value is the validation accuracy.

    Returns:
        The trial, or ``None`` when no trial has completed.
    """
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    if not complete:
        return None
    if len(study.directions) == 1:
        best = study.best_trial
        choice = study.user_attrs.get(MODEL_CHOICE_ATTR) or {}
        chosen = [t for t in complete if t.number == choice.get("trial")]
        return chosen[0] if chosen and choice.get("validation_best") == best.number else best
    return max(study.best_trials, key=lambda t: t.values[0])


def _seconds(trial: FrozenTrial) -> float:
    """How long ``trial`` ran (0 while it is running or when it never started)."""
    if trial.datetime_start is None or trial.datetime_complete is None:
        return 0.0
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def study_row(study: optuna.Study) -> StudyRow:
    """The comparison row of ``study``.

    The test accuracy is the study's final evaluation (user attribute ``test_evaluation``), shown
    only while it is the evaluation of the current best trial.

    Args:
        study: the study to summarise.

    Returns:
        Its row; fields without a value (no complete trial, no evaluation) are ``None``.
    """
    trials = study.get_trials(deepcopy=False)
    best = best_trial(study)
    attrs = study.user_attrs
    evaluation = attrs.get("test_evaluation") or {}
    test = evaluation.get("accuracy") if best is not None and evaluation.get("trial") == best.number else None
    best_record = TrialRecord.of(best) if best is not None else TrialRecord()
    return StudyRow(
        study=study.study_name,
        family=str(attrs.get("family", "")),
        dataset=str(attrs.get("dataset", "")),
        engine=str(attrs.get("engine", "optuna")),
        complete=sum(t.state == TrialState.COMPLETE for t in trials),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAIL for t in trials),
        best_trial=best.number if best is not None else None,
        best_val_accuracy=float(best.values[0]) if best is not None else None,
        test_accuracy=float(test) if test is not None else None,
        best_training_seconds=best_record.training_seconds,
        search_seconds=round(sum(_seconds(t) for t in trials), 1),
        best_params=best_record.param_count,
    )


def final_model_of(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any] | None:
    """What ``--refit`` recorded of ``trial``'s final model (epochs, images, artifact), or None
    when no refit of this trial is stored (a later best trial has not been refit)."""
    final = study.user_attrs.get(FINAL_MODEL_ATTR)
    if isinstance(final, dict) and final.get("trial") == trial.number and final.get("artifact_id"):
        return final
    return None


def import_space_of(study: optuna.Study) -> None:
    """Import the module of the study's space, so Keras finds the custom layers a user's space
    registers when it loads the study's models (built-in families need nothing)."""
    spec = study.user_attrs.get("space")
    if not spec or spec.endswith(MADE_IN_SESSION):
        return
    from spaces import get_space

    try:
        get_space(spec)
    except Exception as exc:  # moved or broken since the search: models without custom layers still load
        _log.warning("the space %s of study %s does not load (%s)", spec, study.study_name, exc)


def load_best_model(study: optuna.Study, artifacts: str) -> tuple[keras.Model, FrozenTrial]:
    """The trained Keras model of the study's best trial, from the Optuna artifact store.

    That is its refit on training + validation images when ``--refit`` stored one for this trial
    (:func:`final_model_of`), else the model its trial trained.

    Args:
        study: the study.
        artifacts: the folder of the ``FileSystemArtifactStore`` ``search.run`` wrote to.

    Returns:
        The model and the trial it belongs to.

    Raises:
        UsageError: the study has no complete trial, or its model is not in ``artifacts``.
    """
    import keras

    import search.final  # noqa: F401  - registers the layer that averages an ensemble's members

    import_space_of(study)
    best = best_trial(study)
    if best is None:
        raise UsageError(f"study {study.study_name} has no completed trial yet")
    final = final_model_of(study, best)
    artifact_id = final["artifact_id"] if final else TrialRecord.of(best).model_artifact_id
    if not artifact_id:
        raise UsageError(f"the best trial {best.number} of {study.study_name} kept no model")
    store = FileSystemArtifactStore(artifacts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        try:
            download_artifact(artifact_store=store, file_path=str(path), artifact_id=str(artifact_id))
        except Exception as exc:
            raise UsageError(
                f"the model of trial {best.number} is not in {artifacts} ({type(exc).__name__}); pass --artifacts"
            ) from None
        return keras.models.load_model(path), best
