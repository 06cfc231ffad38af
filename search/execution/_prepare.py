"""Preparing one search: check every input, then open data, storage and study.

Every input is checked (family, numbers, data, storage, the study's identity) before anything is
written, so bad input leaves the stores as they were.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore

from search.core import (
    GRACE_ENV,
    HEARTBEAT_ENV,
    MADE_IN_SESSION,
    SearchSettings,
    StorageError,
    UsageError,
    check_cv,
    grace_seconds,
    heartbeat_seconds,
    redact,
    study_name,
)
from search.data import DataError, Dataset, load_dataset
from search.pruners import PRUNERS, make_pruner
from search.samplers import SAMPLERS, make_sampler
from search.storages import open_storage, open_study
from search.tracking import TrialRunCloser, check_tracking_uri
from search.training import PrecisionError, configure_precision, configure_threads
from search.trials import OBJECTIVES
from spaces import SearchSpace, check, get_space

__all__ = ["METRIC_NAMES", "Invocation", "Prepared", "check_workers", "prepare"]

#: what optuna-dashboard calls each objective (instead of "Objective 0")
METRIC_NAMES = {"accuracy": "validation accuracy", "time": "training seconds", "params": "parameters"}


@dataclass(frozen=True)
class Invocation:
    """Process plumbing, not a user's choice: which ``search.run`` invocation a process serves.

    Args:
        run_tag: the invocation's id, stored in each trial it starts (``--n-trials`` counts them).
        worker_index: set in a worker process started by ``--workers`` (None: the parent).
        started: when the parent's ``--timeout`` began (``time.monotonic``; None: now).
    """

    run_tag: str
    worker_index: int | None = None
    started: float | None = None

    @classmethod
    def new(cls) -> Invocation:
        """A fresh invocation in this process."""
        return cls(uuid.uuid4().hex)

    @property
    def is_worker(self) -> bool:
        """A worker of ``--workers``: the parent announces, refits and summarises, not it."""
        return self.worker_index is not None


@dataclass
class Prepared:
    """A search with every input checked and opened."""

    settings: SearchSettings
    space: SearchSpace
    data: Dataset
    study: optuna.Study
    artifact_store: FileSystemArtifactStore
    invocation: Invocation = field(default_factory=Invocation.new)


def check_workers(settings: SearchSettings) -> None:
    """Refuse what several workers cannot share.

    Raises:
        UsageError: an in-memory storage with ``--workers`` above 1.
    """
    if settings.workers < 1:
        raise UsageError(f"--workers must be a positive whole number, not {settings.workers}")
    if (
        settings.workers > 1
        and settings.storage.startswith("sqlite://")
        and (settings.storage in ("sqlite://", "sqlite:///:memory:"))
    ):
        raise UsageError(
            "--workers needs a storage the workers can share (a file or a database), not memory"
        )


def _check_numbers(s: SearchSettings) -> None:
    if s.n_trials is not None and s.n_trials < 1:
        raise UsageError(f"--n-trials must be a positive whole number, not {s.n_trials}")
    if s.study_trials is not None and s.study_trials < 1:
        raise UsageError(f"--study-trials must be a positive whole number, not {s.study_trials}")
    check_workers(s)
    if s.timeout is not None and s.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {s.timeout:g}")
    if s.trial_timeout is not None and s.trial_timeout <= 0:
        raise UsageError(f"--trial-timeout must be positive, not {s.trial_timeout:g}")
    if s.max_epochs < 1:
        raise UsageError(f"--max-epochs must be at least 1, not {s.max_epochs}")
    if not 0 < s.val_fraction < 1:
        raise UsageError(f"--val-fraction must be between 0 and 1, not {s.val_fraction:g}")
    if not 0 < s.first_epoch_fraction <= 1:
        raise UsageError(f"--first-epoch-fraction must be above 0 and at most 1, not {s.first_epoch_fraction:g}")
    if s.limit is not None and s.limit < 1:
        raise UsageError(f"--limit must be a positive whole number, not {s.limit}")
    if s.seed is not None and s.seed < 0:
        raise UsageError(f"--seed must be 0 or more, not {s.seed}")
    if s.engine == "keras-tuner":
        if s.workers > 1 or s.study_trials is not None:
            raise UsageError(
                "--engine keras-tuner runs one process (keras-tuner's own distribution needs its "
                "gRPC chief); use --n-trials and no --workers/--study-trials"
            )
        if len(s.objectives) > 1:
            raise UsageError("--engine keras-tuner optimises one objective: --objectives accuracy")
    if s.ensemble < 1:
        raise UsageError(f"--ensemble must be a positive whole number, not {s.ensemble}")
    if s.ensemble > 1 and len(s.objectives) > 1:
        raise UsageError("--ensemble averages the most accurate models: it needs --objectives accuracy")
    check_cv(s.cv)
    if s.threads is not None and s.threads < 1:
        raise UsageError(f"--threads must be a positive whole number, not {s.threads}")
    unknown = [o for o in s.objectives if o not in OBJECTIVES]
    if unknown or not s.objectives or s.objectives[0] != "accuracy" or len(set(s.objectives)) != len(s.objectives):
        raise UsageError(
            f"--objectives must start with accuracy and may add time or params, not {','.join(s.objectives)}"
        )


def _check_environment() -> None:
    """The heartbeat's environment variables (read again by every storage opened)."""
    try:
        heartbeat, grace = heartbeat_seconds(), grace_seconds()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if grace <= heartbeat:
        raise UsageError(
            f"${GRACE_ENV} ({grace}) must be longer than ${HEARTBEAT_ENV} ({heartbeat}): "
            "a live worker would be taken for a dead one between two heartbeats"
        )


def _check_artifacts(path: str) -> None:
    """The artifact folder exists or can be made (nothing is made yet)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--artifacts {path}: a file, not a folder")
    for ancestor in folder.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UsageError(f"--artifacts {path}: {ancestor} is a file, not a folder")
            break


def prepare(
    settings: SearchSettings,
    invocation: Invocation | None = None,
    *,
    space: SearchSpace | None = None,
    data: Dataset | None = None,
) -> Prepared:
    """Check every input and open data, storage and study, in an order that writes nothing
    until everything else is known to be right.

    Args:
        settings: what the user chose.
        invocation: which invocation this process serves (None: a new one, in this process).
        space: the space, when the caller has it as an object (the Python API); else
            ``settings.family`` names it (a family, an installed space or a spec).
        data: the data set, when the caller has it in memory (the Python API); else
            ``settings.dataset`` names it.

    Raises:
        UsageError: one line saying what is wrong.
        spaces.SpaceError: the user's space cannot be loaded or built (one line with file:line).
    """
    if space is None:
        try:
            space = get_space(settings.family)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
    _check_numbers(settings)
    _check_environment()
    _check_artifacts(settings.artifacts)
    if settings.track:
        check_tracking_uri(settings.tracking_uri)
    if settings.workers > 1 and (space.spec is None or data is not None):
        what = "space" if space.spec is None else "data set"
        raise UsageError(
            f"--workers processes load the space and the data themselves: this {what} exists only "
            "in this process (pass a file or a name instead)"
        )
    multi = len(settings.objectives) > 1
    pruner_name = "none" if multi else settings.pruner
    if pruner_name not in PRUNERS:
        raise UsageError(f"unknown pruner {pruner_name!r}; choose one of: {', '.join(sorted(PRUNERS))}")
    if settings.sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {settings.sampler!r}; choose one of: {', '.join(sorted(SAMPLERS))}")
    try:
        priors = [p.params for p in space.presets.values() if p.dataset == settings.dataset_name]
        sampler = make_sampler(settings.sampler, settings.seed, priors)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    configure_threads(settings.threads)
    try:
        configure_precision(
            settings.precision, mixed_precision=settings.mixed_precision, warn=invocation is None or not invocation.is_worker
        )
    except PrecisionError as exc:
        raise UsageError(str(exc)) from None
    if data is None:
        try:
            data = load_dataset(
                settings.dataset_name,
                val_fraction=settings.val_fraction,
                limit=settings.limit,
                seed=settings.seed or 0,
            )
        except DataError as exc:
            raise UsageError(str(exc)) from None
    check(space, data.input_shape, data.num_classes)  # a user's space: built once, before any trial
    pruner = make_pruner(pruner_name, settings.max_epochs, len(data.y_val), data.num_classes)
    try:
        storage = open_storage(settings.storage, on_stale=(TrialRunCloser(settings.tracking_uri),))
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    attrs = {
        "family": space.name,
        "space": space.spec or f"{space.name} {MADE_IN_SESSION}",
        "dataset": settings.dataset_name,
        "objectives": list(settings.objectives),
        "engine": "optuna" if settings.engine == "optuna" else f"keras-tuner-{settings.tuner}",
    }
    directions = [OBJECTIVES[o][1] for o in settings.objectives]
    try:
        study = open_study(
            storage,
            settings.study_name or study_name(space.name, settings.dataset_name, settings.engine, settings.tuner),
            directions=directions,
            sampler=sampler,
            pruner=pruner,
            attrs=attrs,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # the database went away between open and use
        raise UsageError(f"cannot use storage {redact(settings.storage)}: {type(exc).__name__}") from None
    _name_metrics(study, settings.objectives)
    store = FileSystemArtifactStore(_artifact_dir(settings.artifacts))
    return Prepared(settings, space, data, study, store, invocation or Invocation.new())


def _name_metrics(study: optuna.Study, objectives: tuple[str, ...]) -> None:
    """Name the study's objectives for optuna-dashboard (stored once, with the study)."""
    names = [METRIC_NAMES[o] for o in objectives]
    if study.metric_names != names:
        with warnings.catch_warnings():  # experimental in Optuna: chosen on purpose
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def _artifact_dir(path: str) -> str:
    Path(path).mkdir(parents=True, exist_ok=True)
    return path
