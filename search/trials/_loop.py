"""The trial loop every worker runs: claim a trial, train it with a heartbeat, store its state.

**Retries first.** Before each claim, a running trial whose process died on this machine is
failed at once (:func:`~search.storages.fail_dead_local_trials`), and one whose worker stopped
sending heartbeats (another machine) after the grace period; each gets a WAITING retry, which
resumes from its checkpoint. A worker claims a waiting retry before any new or queued trial (Optuna's
``ask`` would pop its queue oldest first, the presets before a later retry), so the interrupted work
is finished by the invocation that found it, before its summary picks the best trial.

**Counting trials exactly.** Every worker starts its trials through :func:`run_trials`, which
takes a lock shared by all workers of the study (:class:`~search.storages.ClaimLock`), counts the
trials already started, and only then asks Optuna for a trial. Counting and starting are one step
for all workers on all machines, so ``--n-trials`` and ``--study-trials`` are never overshot. What
counts: every started trial (running, complete, pruned or failed) that is not a retry -- a retry
stands for the trial it retries, and runs whatever the count.

* ``--n-trials N``: N trials started by this invocation (over all its workers, tagged with a run
  id), besides the retries it ran.
* ``--study-trials N``: the trials of the whole study, whoever runs them (several machines).

When the count is reached but trials are still running elsewhere, a worker waits for them: if
their worker died, the heartbeat marks them failed and the waiting worker runs the retry.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from search.compat import (
    claim_waiting_trial,
    first_heartbeat,
    heartbeat_thread,
    storage_of,
    trial_id,
)
from search.core import SearchClock, SearchSettings, heartbeat_seconds
from search.records import TrialKey, TrialRecord
from search.storages import (
    ClaimLock,
    DeadTrial,
    StaleTrialHook,
    WorkerProcess,
    fail_dead_local_trials,
    queue_retry,
    stale_trial_callback,
)

__all__ = ["INTERRUPTED_REASON", "RUN_ATTR", "WORKER_ATTR", "ResumeEpoch", "TrialBudget", "is_retry", "run_trials"]

_log = logging.getLogger("search")

#: user attribute tagging a trial with the invocation (``--n-trials`` counts its own trials)
RUN_ATTR = TrialKey.SEARCH_RUN
#: user attribute naming the host and process that ran a trial
WORKER_ATTR = TrialKey.WORKER
#: the ``fail_reason`` of a trial that Ctrl-C stopped
INTERRUPTED_REASON = "interrupted by the user"


@dataclass(frozen=True)
class TrialBudget:
    """How many trials to start: ``limit``, counted over one invocation's ``run`` or the study.

    Args:
        limit: trials to start (None: no limit, e.g. only ``--timeout``).
        run: the invocation's id, stored in each trial it starts (user attribute ``search_run``).
        whole_study: count every trial of the study (``--study-trials``), not only the run's.
    """

    limit: int | None
    run: str
    whole_study: bool = False

    @classmethod
    def of(cls, settings: SearchSettings, run: str) -> TrialBudget:
        """The budget ``settings`` asks for (``--study-trials`` or ``--n-trials``) of invocation ``run``."""
        if settings.study_trials is not None:
            return cls(settings.study_trials, run, whole_study=True)
        return cls(settings.n_trials, run)

    def mine(self, trial: FrozenTrial) -> bool:
        """Whether ``trial`` belongs to what this budget counts."""
        return self.whole_study or TrialRecord.of(trial).search_run == self.run

    def counted(self, trials: Sequence[FrozenTrial]) -> int:
        """Started trials that count: not waiting, and not a retry (it stands for its predecessor)."""
        return sum(
            t.state != TrialState.WAITING and not is_retry(t) and self.mine(t) for t in trials
        )

    def running(self, trials: Sequence[FrozenTrial]) -> int:
        """Counted trials still running (possibly on a worker that died)."""
        return sum(t.state == TrialState.RUNNING and self.mine(t) for t in trials)


def is_retry(trial: FrozenTrial) -> bool:
    """Whether ``trial`` retries a trial whose worker died or that Ctrl-C stopped."""
    return "failed_trial" in trial.system_attrs


#: a retry's epoch to resume from, given the trial it retries (None: from the start)
ResumeEpoch = Callable[[FrozenTrial], "int | None"]


def _fail_stale_trials(study: optuna.Study) -> None:
    """Fail trials whose worker stopped sending heartbeats (and queue their retries)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _announce(dead: DeadTrial, resume_epoch: ResumeEpoch | None) -> None:
    """One line on a trial whose process died on this machine, and what becomes of it."""
    head = (
        f"trial {dead.trial.number} was left running by process {dead.process.pid}, which is gone"
    )
    if dead.retry is None:
        _log.warning("%s: failed (retried too often already)", head)
        return
    epoch = resume_epoch(dead.trial) if resume_epoch is not None else None
    if epoch:
        _log.warning("%s: resuming it from epoch %d as trial %d", head, epoch, dead.retry)
    else:
        _log.warning("%s: running it again from the start as trial %d", head, dead.retry)


def _claim_retry(study: optuna.Study, trials: Sequence[FrozenTrial]) -> optuna.trial.Trial | None:
    """Start the oldest waiting retry, if any (before queued presets and new trials)."""
    for waiting in trials:
        if waiting.state == TrialState.WAITING and is_retry(waiting):
            trial = claim_waiting_trial(study, waiting)
            if trial is not None:
                return trial
    return None


def _claim(
    study: optuna.Study,
    budget: TrialBudget,
    lock: ClaimLock,
    resume_epoch: ResumeEpoch | None = None,
) -> tuple[optuna.trial.Trial | None, int]:
    """Start the next trial: a waiting retry, else one the budget allows: ``(trial, 0)``, else
    ``(None, still running)``."""
    with lock:
        retry = stale_trial_callback(storage_of(study)).retry
        for dead in fail_dead_local_trials(study, retry):
            _announce(dead, resume_epoch)
        trials = study.get_trials(deepcopy=False)
        trial = _claim_retry(study, trials)
        if trial is None:
            if budget.limit is not None and budget.counted(trials) >= budget.limit:
                return None, budget.running(trials)
            with warnings.catch_warnings():  # "heartbeat is supposed to be used with optimize":
                warnings.filterwarnings("ignore", message="Heartbeat of storage")  # this loop runs it
                trial = study.ask()  # a queued preset first, else a new trial
        first_heartbeat(study, trial)  # a trial without any heartbeat is never found stale
        process = WorkerProcess.current()
        TrialRecord(
            search_run=budget.run, worker=f"{process.host}:{process.pid}", worker_process=process.attr()
        ).write(trial)
        return trial, 0


class _InterruptOnce:
    """SIGINT raises KeyboardInterrupt once; later ones (a second Ctrl-C, the parent's forward) are
    ignored, so recording the interrupted trial is not itself interrupted. While ``deferring``
    (a trial is being started), the interrupt is only noted in ``pending``."""

    def __init__(self) -> None:
        self.fired = False
        self.pending = False
        self.deferring = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.fired or self.pending:
            return
        if self.deferring:
            self.pending = True
            return
        self.fired = True
        raise KeyboardInterrupt


def _record_interrupted(
    study: optuna.Study, trial: optuna.trial.Trial, on_interrupted: Sequence[StaleTrialHook]
) -> None:
    """Store the trial as failed (``interrupted``), tell ``on_interrupted``, queue it again."""
    if storage_of(study).get_trial(trial_id(trial)).state.is_finished():  # failed meanwhile as
        # stale by another worker (a late heartbeat), which queued its retry already
        _log.warning("trial %d was failed by another worker (heartbeat missed) before Ctrl-C reached it", trial.number)
        return
    TrialRecord(interrupted=True, fail_reason=INTERRUPTED_REASON).write(trial)
    frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    for hook in on_interrupted:
        hook(frozen)
    queue_retry(study, frozen)


def _run_one(
    study: optuna.Study,
    trial: optuna.trial.Trial,
    func: Callable[[optuna.trial.Trial], float | Sequence[float]],
    interrupt: _InterruptOnce,
    on_interrupted: Sequence[StaleTrialHook],
) -> FrozenTrial | None:
    """Run ``func`` on ``trial`` with Optuna's heartbeat, then store its state, as ``optimize``."""
    values: float | Sequence[float] | None = None
    state = TrialState.COMPLETE
    try:
        with heartbeat_thread(study, trial):  # as Study.optimize does
            if interrupt.pending:  # Ctrl-C while the trial was being started
                interrupt.fired = True
                raise KeyboardInterrupt
            values = func(trial)
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except KeyboardInterrupt:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            _record_interrupted(study, trial, on_interrupted)
        finally:
            signal.signal(signal.SIGINT, previous)
        raise
    except Exception as exc:  # the objective recorded the reason; the study goes on
        state = TrialState.FAIL
        _log.debug("trial %d failed", trial.number, exc_info=exc)
    try:
        if state == TrialState.COMPLETE:
            return study.tell(trial, values)
        return study.tell(trial, state=state)
    except UpdateFinishedTrialError:  # another worker declared it dead meanwhile (heartbeat lost)
        _log.warning(
            "trial %d was failed by another worker (heartbeat missed) before it ended", trial.number
        )
        return None


def run_trials(
    study: optuna.Study,
    func: Callable[[optuna.trial.Trial], float | Sequence[float]],
    budget: TrialBudget,
    lock: ClaimLock,
    *,
    clock: SearchClock | None = None,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    on_interrupted: Sequence[StaleTrialHook] = (),
    resume_epoch: ResumeEpoch | None = None,
) -> int:
    """Start trials until ``budget`` is reached or ``clock`` says the search is over; return how many ran.

    Before each trial, trials of dead workers (a process gone from this machine, or no heartbeat
    for the grace period) are failed and their retries queued; waiting retries are run first,
    whatever the budget. When the budget is reached while counted trials still run elsewhere,
    waits for them, so a trial whose worker died is retried rather than lost.

    Args:
        on_interrupted: told of the trial that Ctrl-C interrupted, once it is stored as failed
            and before its retry is queued (e.g. to close its MLflow run).
        resume_epoch: the epoch a retry of a trial would resume from (its checkpoint), for the
            line that announces a trial found dead on this machine.

    Raises:
        KeyboardInterrupt: after recording the running trial as interrupted.
    """
    ran = 0
    handler = _InterruptOnce()
    previous = (
        signal.signal(signal.SIGINT, handler)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        while clock is None or not clock.search_over():
            _fail_stale_trials(study)
            handler.deferring = True
            try:
                trial, running = _claim(study, budget, lock, resume_epoch)
            finally:
                handler.deferring = False
            if trial is None:
                if handler.pending:
                    raise KeyboardInterrupt
                if not running:
                    break
                time.sleep(
                    min(5.0, heartbeat_seconds())
                )  # until they end, or go stale and are retried
                continue
            frozen = _run_one(study, trial, func, handler, on_interrupted)
            ran += 1
            if frozen is not None:
                for callback in callbacks:
                    callback(study, frozen)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return ran
