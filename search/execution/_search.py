"""Running one search in this process: the clock, the objective, the trial loop, the final model.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna

from search.core import WALL_CLOCK, Clock, SearchClock, SearchSettings, redact
from search.execution._prepare import Prepared
from search.execution._presets import enqueue_presets
from search.final import (
    LIBRARY_FACTOR,
    SearchSummary,
    build_ensemble,
    choose_model,
    crossval_reserve,
    evaluate_best,
    refit,
    refit_reserve,
    save_ensemble,
    summarize,
)
from search.policy import DEFAULT_TIME_POLICY, TimePolicy
from search.records import TrialRecord
from search.samplers import PriorSampler
from search.storages import ClaimLock
from search.tracking import TrialRunCloser
from search.training import (
    KERAS_TRAINER,
    Checkpoints,
    Trainer,
    buildable,
    device_description,
    fastest_pace,
    first_epoch_images,
    space_distributions,
)
from search.trials import (
    LiveProgress,
    Objective,
    ObserverGroup,
    OptunaArtifacts,
    ProgressPrinter,
    ResumeEpoch,
    TrialBudget,
    TrialObserver,
    TrialProgress,
    TrialStatus,
    run_trials,
)

__all__ = [
    "enqueue_and_announce",
    "finish_search",
    "live_progress",
    "make_clock",
    "make_objective",
    "run_search",
]

_log = logging.getLogger("search")

#: the time policy of every search run here (its rule table: :class:`~search.policy.TimePolicy`)
TIME_POLICY = DEFAULT_TIME_POLICY

#: epochs without a better validation accuracy after which a multi-objective trial stops
MULTI_OBJECTIVE_PATIENCE = 2


def finished_by(study: optuna.Study, run_tag: str) -> int:
    """The trials the invocation ``run_tag`` started that have finished (retries included)."""
    return sum(
        t.state.is_finished() and TrialRecord.of(t).search_run == run_tag
        for t in study.get_trials(deepcopy=False)
    )


def enqueue_and_announce(
    prepared: Prepared, workers: str = "", searcher: str | None = None, *, enqueue: bool = True
) -> None:
    """Queue the presets (``--enqueue-presets``) and log the start-up line, once per invocation.

    Args:
        workers: how the work is spread, e.g. ``", 2 workers x 1 threads"`` (empty: one process).
        searcher: who chooses the trials (default: the sampler and the pruner).
        enqueue: False where the searcher takes the presets itself (keras-tuner's initial points).
    """
    s, study = prepared.settings, prepared.study
    if s.enqueue_presets and enqueue:
        data = prepared.data
        queued = enqueue_presets(study, prepared.space, s.dataset_name, data.input_shape, data.num_classes)
        if queued:
            _log.info("enqueued presets: %s", ", ".join(queued))
    pruner = "none" if len(s.objectives) > 1 else s.pruner
    _log.info(
        "study %s: %s on %s%s, %s, %s, storage %s",
        study.study_name,
        prepared.space.name,
        prepared.data.summary(),
        workers,
        device_description(),
        searcher or f"sampler {s.sampler}, pruner {pruner}",
        redact(s.storage),
    )


def make_clock(prepared: Prepared, clock: Clock = WALL_CLOCK, policy: TimePolicy = TIME_POLICY) -> SearchClock:
    """The invocation's time budget, starting now on ``clock`` (a simulator's: virtual); with
    ``--refit`` it keeps the refit's time; no trial starts when even the fastest first rung
    measured so far would not fit (``policy``: the time rules; a simulator's ablation varies them)."""
    s, started = prepared.settings, prepared.invocation.started
    reserve = (lambda: refit_reserve(prepared.study, prepared.data, budget=s.timeout, policy=policy)) if s.refit else None
    if len(s.objectives) == 1 and s.cv != "off":  # and time to cross-validate the finalists
        refit_seconds = reserve or (lambda: 0.0)
        reserve = lambda: _with_crossval(prepared, refit_seconds())
    rung = policy.first_rung(s.pruner, len(s.objectives))
    share = _first_epoch_share(prepared, _first_epoch_fraction(s, _prunes(s)))
    shortest = lambda: _fastest_first_rung(prepared.study, rung, share, policy)
    if started is None:
        return SearchClock(s.timeout, reserve, shortest_trial=shortest, clock=clock)
    return SearchClock(s.timeout, reserve, started=started, shortest_trial=shortest, clock=clock)


def _with_crossval(prepared: Prepared, refit_seconds: float) -> float:
    """The refit's reserve plus the time to cross-validate the finalists so far (``--cv``)."""
    s = prepared.settings
    return refit_seconds + crossval_reserve(
        prepared.study, prepared.data, cv=s.cv, budget=s.timeout, refit_seconds=refit_seconds,
        needs_model=_needs_model(prepared),
    )  # fmt: skip


def _needs_model(prepared: Prepared) -> bool:
    """Only trials that kept their model may be chosen: no refit will train the chosen one."""
    return not prepared.settings.refit and prepared.artifact_store is not None


def _prunes(s: SearchSettings) -> bool:
    """Whether a search's trials report their epochs to Optuna's pruner (the optuna engine, one
    objective and a pruner)."""
    return s.engine == "optuna" and len(s.objectives) == 1 and s.pruner != "none"


def _first_epoch_fraction(s: SearchSettings, prune: bool) -> float | None:
    """The share of the training images a trial's first epoch trains on: ``--first-epoch-fraction``
    when a pruner compares the trials early (that comparison is what it makes cheaper); None
    otherwise (no pruner, several objectives, keras-tuner's own stopping: every epoch on every image)."""
    return s.first_epoch_fraction if prune else None


def _first_epoch_share(prepared: Prepared, fraction: float | None) -> float:
    """A trial's first epoch, as a share of an epoch on every training image (1: no subset)."""
    images = len(prepared.data.y_train)
    first = first_epoch_images(images, fraction)
    return first / images if first is not None else 1.0


def _fastest_first_rung(
    study: optuna.Study, first_rung: int, first_epoch_share: float = 1.0, policy: TimePolicy = TIME_POLICY
) -> float:
    """Seconds the fastest trial of ``study`` took (or, stopped early, was measured to need) per
    epoch, times ``first_rung`` epochs, the first of them ``first_epoch_share`` of an epoch (a
    first epoch on a subset of the images); 0 before any trial measured its pace (``last-start``)."""
    fastest = fastest_pace(map(TrialRecord.of, study.get_trials(deepcopy=False)))
    return policy.first_rung_seconds(fastest, first_rung, first_epoch_share)


def make_objective(
    prepared: Prepared,
    group: ObserverGroup,
    clock: SearchClock,
    *,
    prune: bool | None = None,
    trainer: Trainer = KERAS_TRAINER,
    policy: TimePolicy = TIME_POLICY,
) -> Objective:
    """The objective of a prepared search (``prune``: report epochs to the pruner; default: when
    the study has one objective and a pruner); no trial trains past ``clock``'s search end.
    ``trainer`` builds and fits its candidates (a simulator's replays recorded curves);
    ``policy`` decides who trains and for how long (a simulator's ablation varies it)."""
    s = prepared.settings
    multi = len(s.objectives) > 1
    prune = _prunes(s) if prune is None else prune
    objective = Objective(
        space=prepared.space,
        data=prepared.data,
        max_epochs=s.max_epochs,
        observers=group,
        artifact_store=prepared.artifact_store,
        verbose=s.verbose,
        objectives=s.objectives,
        prune=prune,
        trial_seconds=s.trial_timeout,  # None: each trial's cap is derived from its pace and the time left
        first_rung=policy.first_rung(s.pruner, len(s.objectives)),
        search_end=clock.search_end,
        policy=policy,
        clock=clock.clock,
        checkpoints=Checkpoints(Path(s.artifacts) / "checkpoints" / prepared.study.study_name),
        patience=MULTI_OBJECTIVE_PATIENCE if multi else None,
        jit=s.jit,
        keep_models=LIBRARY_FACTOR * s.ensemble if s.ensemble > 1 else 1,
        seed=s.seed,
        first_epoch_fraction=_first_epoch_fraction(s, prune),
        refit_follows=s.refit,  # the parent refits, after its workers too
        trainer=trainer,
    )
    sampler = prepared.study.sampler
    if isinstance(sampler, PriorSampler):  # it draws again rather than start a trial pruned at once
        data = prepared.data
        prepared.study.sampler = sampler.checking(
            buildable(
                prepared.space, data.input_shape, data.num_classes,
                affordable=functools.partial(objective.affordable, prepared.study),
                build=None if trainer is KERAS_TRAINER else (
                    lambda candidate, params: trainer.build(prepared.space, candidate, data, params=params)
                ),
            ),
            space_distributions(prepared.space),
        )  # fmt: skip
    return objective


def _terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


@contextlib.contextmanager
def live_progress(prepared: Prepared, clock: SearchClock, workers: int = 1) -> Iterator[LiveProgress | None]:
    """The live view of the search while the block runs, when stdout is a terminal and the user
    did not ask for ``--quiet``; else None (plain lines)."""
    s = prepared.settings
    if s.quiet or not _terminal():
        yield None
        return
    budget = s.n_trials if s.study_trials is None else None
    with LiveProgress(prepared.study, prepared.invocation.run_tag, clock, trials=budget, workers=workers) as live:
        yield live


def run_search(
    prepared: Prepared,
    observers: list[TrialObserver] | None = None,
    *,
    progress_sink: Callable[[TrialStatus], None] | None = None,
) -> SearchSummary:
    """Run the trials of one invocation and return its summary (test evaluation included).

    Args:
        observers: what watches the trials besides the artifact store (MLflow).
        progress_sink: a ``--workers`` process whose parent shows the live view: where this
            worker's trial progress and finished-trial lines go.
    """
    if not prepared.invocation.is_worker:  # the parent of --workers did both
        enqueue_and_announce(prepared)
    clock = make_clock(prepared)
    slot = prepared.invocation.worker_index or 0
    with contextlib.ExitStack() as stack:
        live = None if prepared.invocation.is_worker else stack.enter_context(live_progress(prepared, clock))
        sink = live.update if live is not None else progress_sink
        progress = TrialProgress(sink, slot=slot, epoch_lines=sink is None)
        printer = ProgressPrinter(progress_sink, slot) if progress_sink is not None else ProgressPrinter()
        group = ObserverGroup([OptunaArtifacts(prepared.artifact_store), progress, *(observers or [])])
        trials_this_run, wall_seconds, interrupted = _run_trials(prepared, group, clock, printer)
    return finish_search(
        prepared,
        group,
        trials_this_run=trials_this_run,
        wall_seconds=wall_seconds,
        interrupted=interrupted,
        clock=clock,
    )


def _run_trials(
    prepared: Prepared, group: ObserverGroup, clock: SearchClock, printer: ProgressPrinter
) -> tuple[int, float, bool]:
    """The trial loop of this process: (trials finished, wall seconds, interrupted)."""
    s, study = prepared.settings, prepared.study
    objective = make_objective(prepared, group, clock)
    lock = ClaimLock(s.storage, study.study_name)
    group.on_search_start(study)
    start = time.perf_counter()
    interrupted = False
    try:  # counts trials atomically across workers; failed trials never stop the study
        run_trials(
            study,
            objective,
            TrialBudget.of(s, prepared.invocation.run_tag),
            lock,
            clock=clock,
            callbacks=[printer],
            on_interrupted=[TrialRunCloser(s.tracking_uri)],
            resume_epoch=_resume_epoch(objective.checkpoints),
        )
    except KeyboardInterrupt:
        interrupted = True
        if not prepared.invocation.is_worker:
            _log.warning("interrupted: the running trial is recorded as failed; run the same command to resume")
    finally:
        lock.close()
    return finished_by(study, prepared.invocation.run_tag), time.perf_counter() - start, interrupted


def _resume_epoch(checkpoints: Checkpoints | None) -> ResumeEpoch | None:
    """The epoch a retry of a trial resumes from: its latest intact checkpoint, or its predecessors'."""
    if checkpoints is None:
        return None
    return lambda trial: checkpoints.latest_epoch(
        [*trial.system_attrs.get("retry_history", ()), trial.number]
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
    """Summarise the study, choose its best configuration (by cross-validation of the finalists
    when the validation split is small: ``--cv``), refit it (``--refit``), average the best models
    (``--ensemble``), evaluate the final model on the test set, tell the observers.

    Raises:
        KeyboardInterrupt: again, after the observers heard of it, when ``interrupted``.
    """
    s, study = prepared.settings, prepared.study
    summary = summarize(
        study,
        family=prepared.space.name,
        dataset=prepared.data.name,
        trials_this_run=trials_this_run,
        wall_seconds=wall_seconds,
        objectives=s.objectives,
    )
    best = summary.most_accurate() if summary.best and not interrupted else None
    space, data, store = prepared.space, prepared.data, prepared.artifact_store
    final = ensemble = None
    if best is not None and not prepared.invocation.is_worker:  # the parent chooses, refits and averages, once
        if len(s.objectives) == 1:
            best, summary.choice = choose_model(
                study, best, space, data, cv=s.cv, end=clock.end, budget=s.timeout, refit=s.refit,
                seed=s.seed, jit=s.jit, needs_model=_needs_model(prepared),
            )  # fmt: skip
            summary.best = [best]
        if s.refit:
            final = refit(study, best, space, data, end=clock.end, artifact_store=store, jit=s.jit, clock=clock.clock)
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
    summary.lost = dict(group.lost)
    if interrupted:
        raise KeyboardInterrupt
    return summary
