"""What the user chose: :class:`SearchSettings`, one field per option of ``search.run``.

Process plumbing (which invocation a worker belongs to, when the parent's clock started) is not a
user's choice and lives with the processes (:mod:`search.execution`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.core._errors import UsageError
from search.core._paths import DEFAULT_OPTUNA_ARTIFACTS, DEFAULT_STORAGE

__all__ = [
    "ENGINES",
    "MADE_IN_SESSION",
    "OBJECTIVE_NAMES",
    "PRECISIONS",
    "PRUNER_NAMES",
    "SAMPLER_NAMES",
    "TUNER_NAMES",
    "SearchSettings",
    "check_cv",
    "field_default",
    "resolve_n_trials",
    "study_name",
]

# The names the options take, kept here so that ``--help`` needs neither Optuna nor TensorFlow;
# the factories (search.samplers, search.pruners, search.engines) are checked against them by tests.
SAMPLER_NAMES = ("cmaes", "gp", "nsga2", "prior", "qmc", "random", "tpe")
PRUNER_NAMES = ("hyperband", "median", "none", "successive-halving")
OBJECTIVE_NAMES = ("accuracy", "time", "params")
ENGINES = ("optuna", "keras-tuner")
TUNER_NAMES = ("hyperband", "bayesian", "random")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")  # search.training.choose_policy


#: how a study records a space made in a Python session (no spec to load it again by)
MADE_IN_SESSION = "(made in a Python session)"


def study_name(family: str, dataset: str, engine: str = "optuna", tuner: str = "hyperband") -> str:
    """The default study name: ``FAMILY-DATASET``, with ``-kt-TUNER`` for keras-tuner's studies."""
    name = f"{family}-{Path(dataset).stem}"
    return f"{name}-kt-{tuner}" if engine == "keras-tuner" else name


@dataclass(frozen=True)
class SearchSettings:
    """Everything ``python -m search.run`` takes; see ``--help`` for each."""

    family: str  # a built-in family, an installed space, or a spec: path.py[:NAME] or module[:NAME]
    dataset: str | None = None  # None: the family's default data set
    study_name: str | None = None  # None: "<family>-<dataset>"
    storage: str = DEFAULT_STORAGE
    artifacts: str = DEFAULT_OPTUNA_ARTIFACTS  # Optuna artifact store: the best models
    n_trials: int | None = 20  # None: until --timeout or --study-trials (see resolve_n_trials)
    timeout: float | None = None  # seconds
    trial_timeout: float | None = None  # per trial, seconds; None: derived from each trial's pace and the time left
    max_epochs: int = 10
    sampler: str = "prior"  # the documents' presets as a prior (search.samplers.PriorSampler)
    pruner: str = "successive-halving"  # one bracket; a tie with the best is kept (search.pruners)
    seed: int | None = None
    val_fraction: float = 0.1
    limit: int | None = None
    enqueue_presets: bool = False
    objectives: tuple[str, ...] = ("accuracy",)
    verbose: bool = False
    quiet: bool = False  # no progress: the summary alone (--quiet)
    evaluate: bool = True  # evaluate the best configuration on the test set at the end
    refit: bool = False  # train the best configuration again on train + val, within --timeout
    ensemble: int = 1  # the final model averages up to this many picks of the best trials
    cv: int | str = "auto"  # choose the best among the finalists by K-fold cross-validation: "auto" (5
    # folds when the validation split has under 2,000 images), "off", or K folds whatever its size
    threads: int | None = None  # TensorFlow intra-op threads (None: TensorFlow's default)
    tracking_uri: str | None = None  # MLflow; None: $MLFLOW_TRACKING_URI or sqlite in mlruns/
    track: bool = True  # log to MLflow
    workers: int = 1  # worker processes on this machine
    gpus: bool = False  # give each worker its own GPU (CUDA_VISIBLE_DEVICES)
    study_trials: int | None = None  # stop when the whole study has this many trials (all machines)
    jit: bool = False  # XLA-compile every model's training step
    mixed_precision: bool = False  # --precision float16 on GPUs (ignored on CPUs, with a warning)
    precision: str = "auto"  # compute precision: auto (bfloat16 on CPUs that have it natively), float32, bfloat16, float16
    engine: str = "optuna"  # or "keras-tuner" (search.engines)
    tuner: str = "hyperband"  # keras-tuner's algorithm: hyperband, bayesian or random
    first_epoch_fraction: float = 0.25  # a trial's first epoch trains on this share of the training images
    # (stratified; at least 5,000, none below 10,000 images; 1: all) when a pruner compares trials early

    @property
    def dataset_name(self) -> str:
        """``--dataset``, or the family's default data set."""
        if self.dataset is not None:
            return self.dataset
        from spaces import get_space  # spaces imports Keras: only when no data set was named

        return get_space(self.family).default_dataset

    @property
    def resolved_study_name(self) -> str:
        """``--study-name``, or :func:`study_name` of the space and data set."""
        if self.study_name:
            return self.study_name
        from spaces import get_space  # a user's space is named by its module: load it

        return study_name(get_space(self.family).name, self.dataset_name, self.engine, self.tuner)


def field_default(name: str) -> Any:
    """The default of :class:`SearchSettings`' field ``name``: each default is written there
    alone, and ``search.run``'s options and :func:`search.tune`'s keywords take theirs from it.

    Raises:
        KeyError: no such field, or a field without a default (``family``).
    """
    for f in dataclasses.fields(SearchSettings):
        if f.name == name and f.default is not dataclasses.MISSING:
            return f.default
    raise KeyError(f"SearchSettings has no field {name!r} with a default")


def resolve_n_trials(n_trials: int | None, timeout: float | None, study_trials: int | None) -> int | None:
    """The trials an invocation runs: ``n_trials`` when given; else the default of
    :attr:`SearchSettings.n_trials` (20) unless ``timeout`` or ``study_trials`` bounds the
    invocation instead (then None: no count of its own)."""
    if n_trials is None and timeout is None and study_trials is None:
        return field_default("n_trials")
    return n_trials


def check_cv(cv: int | str) -> int | str:
    """``--cv`` as the search uses it: ``"auto"``, ``"off"`` or a number of folds, 2 or more (a
    whole number given as text, as on the command line, becomes an ``int``).

    Raises:
        UsageError: anything else (one line naming the value).
    """
    if cv in ("auto", "off"):
        return cv
    folds: int | None = None
    if isinstance(cv, int) and not isinstance(cv, bool):
        folds = cv
    elif isinstance(cv, str) and cv.isascii() and cv.isdigit():
        folds = int(cv)
    if folds is None or folds < 2:
        raise UsageError(f"--cv must be auto, off or a number of folds (2 or more), not {cv}")
    return folds
