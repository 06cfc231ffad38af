"""The Python API: one call runs a search, from a notebook or a script, as ``search.run`` does.

The command line is a thin layer over :func:`run`; :func:`tune` adds what a Python caller has and
a command line has not: a space or a ``build(hp)`` function as an object, and arrays in memory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from search.cli import duration
from search.core import (
    SearchSettings,
    UsageError,
    field_default,
    resolve_n_trials,
    setup_logging,
    start_tensorflow,
)

__all__ = ["TuneResult", "run", "tune"]

#: what :func:`tune` calls a data set given as arrays (it names the study: ``<space>-arrays``)
ARRAYS_NAME = "arrays"


@dataclass
class TuneResult:
    """What :func:`tune` returns.

    Attributes:
        study: the Optuna study (every trial, its parameters and user attributes).
        best_params: the parameters of the most accurate trial.
        best_value: its validation accuracy.
        model: the final model: the ensemble, the refit or the best trial's model, as the
            settings asked (None when no trial completed).
        test_accuracy: the final model's accuracy on the test set (None with ``evaluate=False``).
        summary: the summary ``search.run`` prints (``summary.lines()``).
    """

    study: optuna.Study
    best_params: dict[str, Any]
    best_value: float | None
    model: Any
    test_accuracy: float | None
    summary: Any  # search.final.SearchSummary

    def __repr__(self) -> str:
        acc = "none" if self.test_accuracy is None else f"{self.test_accuracy:.4f}"
        return f"TuneResult(study={self.study.study_name!r}, best_value={self.best_value}, test_accuracy={acc})"


def run(settings: SearchSettings, *, space: Any = None, data: Any = None) -> tuple[Any, Any]:
    """Prepare and run one search as ``search.run`` does: the engine, the workers, MLflow.

    Args:
        settings: what to search and how.
        space: the space as an object (else ``settings.family`` names it).
        data: the data set as a :class:`~search.data.Dataset` (else ``settings.dataset`` names it).

    Returns:
        ``(prepared, summary)``.

    Raises:
        UsageError: bad input, before anything is stored.
        KeyboardInterrupt: after the running trials were recorded (Ctrl-C).
    """
    from search.engines import run_keras_tuner
    from search.execution import prepare, run_search, run_workers
    from search.tracking import observers_for

    prepared = prepare(settings, space=space, data=data)
    observers = observers_for(settings, data=prepared.data)
    if settings.engine == "keras-tuner":
        return prepared, run_keras_tuner(prepared, observers)
    if settings.workers > 1:
        return prepared, run_workers(prepared, observers)
    return prepared, run_search(prepared, observers)


def tune(
    space: Any,
    data: Any = "fashion_mnist",
    *,
    timeout: float | str | None = None,
    n_trials: int | None = None,
    storage: str = field_default("storage"),
    tracking_uri: str | None = None,
    study_name: str | None = None,
    artifacts: str = field_default("artifacts"),
    verbose: bool = field_default("verbose"),
    **options: Any,
) -> TuneResult:
    """Search a space's hyperparameters and return the study, the best parameters and the final model.

    >>> import search
    >>> result = search.tune("lenet", timeout="5m", limit=5000)  # doctest: +SKIP
    >>> result.test_accuracy, result.best_params["learning_rate"]  # doctest: +SKIP

    Args:
        space: a built-in family (``"cnn"``), an installed space, a spec (``"my.py:build"``), a
            ``spaces.Space``, a keras-tuner ``HyperModel``, or a ``build(hp)`` function.
        data: a built-in data set (``"fashion_mnist"``, ``"mnist"``, ``"cifar10"``), the path of a
            ``.npz`` file or an image folder, or arrays ``(x_train, y_train[, x_test, y_test])``
            (without test arrays a stratified 20 % of the training images is held out).
        timeout: the time budget: seconds, or ``"20m"``, ``"2h"``.
        n_trials: trials to run (default 20, or none with a ``timeout``).
        storage: the Optuna storage URL.
        tracking_uri: the MLflow store (default ``$MLFLOW_TRACKING_URI`` or ``mlruns/``); ``track=False``
            logs nothing to MLflow.
        study_name: default ``<space>-<data set>``; the same name resumes the study.
        artifacts: the folder for the kept models.
        verbose: Keras' per-epoch output.
        **options: any other setting of ``search.run``, by its field name in
            :class:`~search.core.SearchSettings`: ``max_epochs``, ``sampler``, ``pruner``, ``seed``,
            ``enqueue_presets``, ``refit``, ``ensemble``, ``limit``, ``val_fraction``,
            ``objectives``, ``engine``, ``tuner``, ``workers``, ``precision``, ``evaluate``, ``track``, ...

    Returns:
        A :class:`TuneResult`.

    Raises:
        UsageError: bad input (one line saying what is wrong), before anything is stored.
        spaces.SpaceError: the space cannot be loaded or built (names the file and line).
    """
    start_tensorflow()
    setup_logging(verbose)
    fields = {f.name for f in dataclasses.fields(SearchSettings)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise UsageError(f"tune() has no option {', '.join(unknown)}; see search.core.SearchSettings")
    from search.data import DataError, Dataset, dataset_from_arrays
    from spaces import as_space

    space_object = None
    if isinstance(space, str):
        family = space
    else:
        space_object = as_space(space)
        family = space_object.spec or space_object.name
    dataset, data_object = _data(data)
    if isinstance(timeout, str):
        timeout = duration(timeout)
    if isinstance(options.get("objectives"), str):
        options["objectives"] = tuple(o.strip() for o in options["objectives"].split(","))
    settings = SearchSettings(
        family=family,
        dataset=dataset,
        study_name=study_name,
        storage=storage,
        artifacts=artifacts,
        n_trials=resolve_n_trials(n_trials, timeout, options.get("study_trials")),
        timeout=timeout,
        tracking_uri=tracking_uri,
        verbose=verbose,
        **options,
    )
    if data_object is not None and not isinstance(data_object, Dataset):
        try:
            data_object = dataset_from_arrays(
                *data_object,
                name=ARRAYS_NAME,
                val_fraction=settings.val_fraction,
                limit=settings.limit,
                seed=settings.seed or 0,
            )
        except DataError as exc:
            raise UsageError(str(exc)) from None
    prepared, summary = run(settings, space=space_object, data=data_object)
    return _result(prepared, summary)


def _data(data: Any) -> tuple[str, Any]:
    """``(name, object)``: a name or path to load, or arrays / a Dataset already in memory."""
    from search.data import Dataset

    if isinstance(data, str | os.PathLike):
        return os.fspath(data), None
    if isinstance(data, Dataset):
        return data.name, data
    if isinstance(data, Sequence) and len(data) in (2, 4) and all(isinstance(a, np.ndarray) for a in data):
        return ARRAYS_NAME, tuple(data)
    raise UsageError(
        "data must be a data set's name, a path, or arrays (x_train, y_train[, x_test, y_test]), "
        f"not {type(data).__name__}"
    )


def _result(prepared: Any, summary: Any) -> TuneResult:
    from search.results import load_best_model

    study = prepared.study
    best = summary.most_accurate() if summary.best else None
    model = summary.evaluation.model if summary.evaluation is not None else None
    if model is None and best is not None:
        model, _ = load_best_model(study, prepared.settings.artifacts)
    return TuneResult(
        study=study,
        best_params=dict(best.params) if best is not None else {},
        best_value=float(best.values[0]) if best is not None else None,
        model=model,
        test_accuracy=summary.evaluation.accuracy if summary.evaluation is not None else None,
        summary=summary,
    )


