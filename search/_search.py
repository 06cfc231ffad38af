"""One search: open everything, check everything, then run the study and summarise it.

Every input is checked (family, numbers, data, storage, the study's identity) before anything is
written, so bad input leaves the stores as they were.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore

from search._artifacts import OptunaArtifacts
from search._clock import SearchClock
from search._devices import configure_precision, configure_threads, device_description
from search._ensemble import LIBRARY_FACTOR, build_ensemble, save_ensemble
from search._faults import Checkpoints, set_tracking_uri
from search._objective import OBJECTIVES, Objective
from search._observers import ObserverGroup, TrialObserver
from search._refit import refit, refit_reserve
from search._study import (
    DEFAULT_STORAGE,
    PRUNERS,
    StorageError,
    enqueue_presets,
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    redact,
)
from search._summary import ProgressPrinter, SearchSummary, evaluate_best, summarize
from search._workers import ClaimLock, TrialBudget, check_workers, run_trials
from search.data import DataError, Dataset, load_dataset
from spaces import Space, get_space

__all__ = [
    "SearchSettings",
    "UsageError",
    "finish_search",
    "make_clock",
    "make_objective",
    "prepare",
    "run_search",
]

_log = logging.getLogger("search")


#: epochs without a better validation accuracy after which a multi-objective trial stops
MULTI_OBJECTIVE_PATIENCE = 2


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2, nothing stored."""


@dataclass(frozen=True)
class SearchSettings:
    """Everything ``python -m search.run`` takes; see ``--help`` for each."""

    family: str
    dataset: str | None = None  # None: the family's default data set
    study_name: str | None = None  # None: "<family>-<dataset>"
    storage: str = DEFAULT_STORAGE
    artifacts: str = "storage/artifacts"  # Optuna artifact store: the best models
    n_trials: int | None = 20
    timeout: float | None = None  # seconds
    trial_timeout: float | None = None  # per trial, seconds; None: a quarter of --timeout, if any
    max_epochs: int = 10
    sampler: str = "tpe"
    pruner: str = "successive-halving"  # one bracket; a tie with the best is kept (see PRUNERS)
    seed: int | None = None
    val_fraction: float = 0.1
    limit: int | None = None
    enqueue_presets: bool = False
    objectives: tuple[str, ...] = ("accuracy",)
    verbose: bool = False
    evaluate: bool = True  # evaluate the best configuration on the test set at the end
    refit: bool = False  # train the best configuration again on train + val, within --timeout (search._refit)
    ensemble: int = 1  # the final model averages up to this many picks of the best trials (search._ensemble)
    threads: int | None = None  # TensorFlow intra-op threads (None: TensorFlow's default)
    tracking_uri: str | None = None  # MLflow; None: $MLFLOW_TRACKING_URI or sqlite in mlruns/
    track: bool = True  # log to MLflow
    workers: int = 1  # worker processes on this machine (search._workers)
    gpus: bool = False  # give each worker its own GPU (CUDA_VISIBLE_DEVICES)
    study_trials: int | None = None  # stop when the whole study has this many trials (all machines)
    jit: bool = False  # XLA-compile every model's training step
    mixed_precision: bool = False  # float16 compute on GPUs (ignored on CPUs, with a warning)
    engine: str = "optuna"  # or "keras-tuner" (search.engines)
    tuner: str = "hyperband"  # keras-tuner's algorithm: hyperband, bayesian or random
    run_tag: str | None = None  # set by search._workers: the invocation --n-trials counts
    worker_index: int | None = None  # set in a worker process started by search._workers
    started: float | None = None  # set by search._workers: when the parent's --timeout began (time.monotonic, machine-wide)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset_name(self) -> str:
        if self.dataset is not None:
            return self.dataset
        return get_space(self.family).default_dataset

    @property
    def resolved_study_name(self) -> str:
        if self.study_name:
            return self.study_name
        name = f"{self.family}-{Path(self.dataset_name).stem}"
        return f"{name}-kt-{self.tuner}" if self.engine == "keras-tuner" else name


@dataclass
class Prepared:
    """A search with every input checked and opened."""

    settings: SearchSettings
    space: Space
    data: Dataset
    study: optuna.Study
    artifact_store: FileSystemArtifactStore


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
        if s.enqueue_presets:
            raise UsageError("--engine keras-tuner chooses every trial itself: --enqueue-presets is for --engine optuna")
    if s.ensemble < 1:
        raise UsageError(f"--ensemble must be a positive whole number, not {s.ensemble}")
    if s.ensemble > 1 and len(s.objectives) > 1:
        raise UsageError("--ensemble averages the most accurate models: it needs --objectives accuracy")
    unknown = [o for o in s.objectives if o not in OBJECTIVES]
    if unknown or not s.objectives or s.objectives[0] != "accuracy" or len(set(s.objectives)) != len(s.objectives):
        raise UsageError(
            f"--objectives must start with accuracy and may add time or params, not {','.join(s.objectives)}"
        )


def prepare(settings: SearchSettings) -> Prepared:
    """Check every input and open data, storage and study, in an order that writes nothing
    until everything else is known to be right.

    Raises:
        UsageError: one line saying what is wrong.
    """
    try:
        space = get_space(settings.family)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    _check_numbers(settings)
    multi = len(settings.objectives) > 1
    pruner_name = "none" if multi else settings.pruner
    if pruner_name not in PRUNERS:
        raise UsageError(f"unknown pruner {pruner_name!r}; choose one of: {', '.join(sorted(PRUNERS))}")
    try:
        sampler = make_sampler(settings.sampler, settings.seed, multi)
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc.args[0]) if isinstance(exc, ValueError) else f"unknown {exc}") from None
    configure_threads(settings.threads)
    configure_precision(settings.mixed_precision)
    try:
        data = load_dataset(
            settings.dataset_name,
            val_fraction=settings.val_fraction,
            limit=settings.limit,
            seed=settings.seed or 0,
        )
    except DataError as exc:
        raise UsageError(str(exc)) from None
    pruner = make_pruner(pruner_name, settings.max_epochs, len(data.y_val), data.num_classes)
    try:
        storage = open_storage(settings.storage)
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    attrs = {
        "family": settings.family,
        "dataset": settings.dataset_name,
        "objectives": list(settings.objectives),
        "engine": "optuna" if settings.engine == "optuna" else f"keras-tuner-{settings.tuner}",
    }
    directions = [OBJECTIVES[o][1] for o in settings.objectives]
    try:
        study = open_study(
            storage,
            settings.resolved_study_name,
            directions=directions,
            sampler=sampler,
            pruner=pruner,
            attrs=attrs,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # the database went away between open and use
        raise UsageError(f"cannot use storage {redact(settings.storage)}: {type(exc).__name__}") from None
    store = FileSystemArtifactStore(_artifact_dir(settings.artifacts))
    return Prepared(settings, space, data, study, store)


def _finished(study: optuna.Study) -> int:
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def _artifact_dir(path: str) -> str:
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def make_clock(prepared: Prepared) -> SearchClock:
    """The invocation's time budget, starting now; with ``--refit`` it keeps the refit's time."""
    s = prepared.settings
    reserve = (lambda: refit_reserve(prepared.study, prepared.data)) if s.refit else None
    if s.started is None:
        return SearchClock(s.timeout, reserve)
    return SearchClock(s.timeout, reserve, started=s.started)


def make_objective(
    prepared: Prepared,
    group: ObserverGroup,
    clock: SearchClock,
    *,
    prune: bool | None = None,
) -> Objective:
    """The objective of a prepared search (``prune``: report epochs to the pruner; default: when
    the study has one objective and a pruner); no trial trains past ``clock``'s search end."""
    s = prepared.settings
    multi = len(s.objectives) > 1
    return Objective(
        space=prepared.space,
        data=prepared.data,
        max_epochs=s.max_epochs,
        observers=group,
        artifact_store=prepared.artifact_store,
        verbose=s.verbose,
        objectives=s.objectives,
        prune=(not multi and s.pruner != "none") if prune is None else prune,
        trial_seconds=s.trial_timeout or (s.timeout / 4 if s.timeout else None),
        search_end=clock.search_end,
        checkpoints=Checkpoints(Path(s.artifacts) / "checkpoints" / prepared.study.study_name),
        patience=MULTI_OBJECTIVE_PATIENCE if multi else None,
        jit=s.jit,
        keep_models=LIBRARY_FACTOR * s.ensemble if s.ensemble > 1 else 1,
        seed=s.seed,
    )


def run_search(
    prepared: Prepared, observers: list[TrialObserver] | None = None
) -> SearchSummary:
    """Run the trials of one invocation and return its summary (test evaluation included)."""
    s, study = prepared.settings, prepared.study
    group = ObserverGroup([OptunaArtifacts(prepared.artifact_store), *(observers or [])])
    if s.enqueue_presets:
        queued = enqueue_presets(
            study, prepared.space, s.dataset_name, prepared.data.input_shape, prepared.data.num_classes
        )
        if queued:
            _log.info("enqueued presets: %s", ", ".join(queued))
    if s.worker_index is None:  # workers started by search._workers: the parent said it
        _log.info(
            "study %s: %s on %s, %s, sampler %s, pruner %s, storage %s",
            study.study_name,
            s.family,
            prepared.data.summary(),
            device_description(),
            s.sampler,
            "none" if len(s.objectives) > 1 else s.pruner,
            redact(s.storage),
        )
    clock = make_clock(prepared)
    objective = make_objective(prepared, group, clock)
    set_tracking_uri(s.tracking_uri)  # where runs of dead or interrupted trials are closed
    lock = ClaimLock(s.storage, study.study_name)
    before = _finished(study)
    group.on_search_start(study)
    start = time.perf_counter()
    interrupted = False
    try:  # counts trials atomically across workers; failed trials never stop the study
        run_trials(
            study,
            objective,
            TrialBudget.of(s),
            lock,
            clock=clock,
            callbacks=[ProgressPrinter()],
        )
    except KeyboardInterrupt:
        interrupted = True
        if s.worker_index is None:
            _log.warning("interrupted: the running trial is recorded as failed; run the same command to resume")
    finally:
        lock.close()
    return finish_search(
        prepared,
        group,
        trials_this_run=_finished(study) - before,
        wall_seconds=time.perf_counter() - start,
        interrupted=interrupted,
        clock=clock,
    )


def finish_search(
    prepared: Prepared,
    group: ObserverGroup,
    *,
    trials_this_run: int,
    wall_seconds: float,
    interrupted: bool,
    clock: SearchClock,
) -> SearchSummary:
    """Summarise the study, refit (``--refit``) its best configuration, average the best models
    (``--ensemble``), evaluate the final model on the test set, tell the observers.

    Raises:
        KeyboardInterrupt: again, after the observers heard of it, when ``interrupted``.
    """
    s, study = prepared.settings, prepared.study
    summary = summarize(
        study,
        family=s.family,
        dataset=s.dataset_name,
        trials_this_run=trials_this_run,
        wall_seconds=wall_seconds,
        objectives=s.objectives,
    )
    best = summary.most_accurate() if summary.best and not interrupted else None
    space, data, store = prepared.space, prepared.data, prepared.artifact_store
    final = ensemble = None
    if best is not None and s.worker_index is None:  # the parent refits and averages, once
        if s.refit:
            final = refit(study, best, space, data, end=clock.end, artifact_store=store, jit=s.jit)
        if s.ensemble > 1:
            ensemble = build_ensemble(
                study, best, data, store, size=s.ensemble, refit_model=final.model if final else None
            )
        if ensemble is not None:
            _log.info(
                "ensemble of %s: validation accuracy %.4f (trial %d alone: %.4f)",
                ensemble.describe(), ensemble.val_accuracy, best.number, ensemble.best_val_accuracy,
            )  # fmt: skip
            save_ensemble(study, ensemble, store)
    if best is not None and s.evaluate:
        summary.evaluation = evaluate_best(
            study, best, space, data, max_epochs=s.max_epochs, artifact_store=store, final=final, ensemble=ensemble
        )
    summary.interrupted = interrupted
    group.on_search_end(study, summary)
    if interrupted:
        raise KeyboardInterrupt
    return summary
