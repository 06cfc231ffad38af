"""Many workers on one study: the trial loop of every worker, and the processes of ``--workers``.

**Counting trials exactly.** Every worker starts its trials through :func:`run_trials`, which
takes a lock shared by all workers of the study (a PostgreSQL advisory lock, or a file lock next
to a SQLite database or journal file), counts the trials already started, and only then asks
Optuna for a trial (which pops a queued preset or retry first). Counting and starting are one step
for all workers on all machines, so ``--n-trials`` and ``--study-trials`` are never overshot.
What counts: every started trial (running, complete, pruned or failed) except one that was
retried (its worker died or the user interrupted it) -- its retry takes its place.

* ``--n-trials N``: the trials of this invocation, over all its workers (tagged with a run id).
* ``--study-trials N``: the trials of the whole study, whoever runs them (several machines).

When the count is reached but trials are still running elsewhere, a worker waits for them: if
their worker died, the heartbeat marks them failed and the waiting worker runs the retry.

**Processes.** :func:`run_workers` starts N spawned processes; each opens the study itself
(after the parent checked every input), uses ``cores / N`` TensorFlow threads (or ``--threads``),
and with ``--gpus`` sees only its own GPU (``CUDA_VISIBLE_DEVICES``). Ctrl-C reaches every worker;
each records its running trial as interrupted and queues it again, so the next run resumes it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import hashlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from search._clock import SearchClock
from search._faults import INTERRUPTED_REASON, close_mlflow_run, heartbeat_seconds

if TYPE_CHECKING:
    from search._observers import TrialObserver
    from search._search import Prepared, SearchSettings
    from search._summary import SearchSummary

__all__ = [
    "RUN_ATTR",
    "ClaimLock",
    "TrialBudget",
    "check_workers",
    "run_trials",
    "run_workers",
    "worker_threads",
]

_log = logging.getLogger("search")

#: user attribute tagging a trial with the invocation (``--n-trials`` counts its own trials)
RUN_ATTR = "search_run"
#: user attribute naming the host and process that ran a trial
WORKER_ATTR = "worker"


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
    def of(cls, settings: SearchSettings) -> TrialBudget:
        """The budget ``settings`` asks for (``--study-trials`` or ``--n-trials``)."""
        run = settings.run_tag or uuid.uuid4().hex
        if settings.study_trials is not None:
            return cls(settings.study_trials, run, whole_study=True)
        return cls(settings.n_trials, run)

    def mine(self, trial: FrozenTrial) -> bool:
        """Whether ``trial`` belongs to what this budget counts."""
        return self.whole_study or trial.user_attrs.get(RUN_ATTR) == self.run

    def counted(self, trials: Sequence[FrozenTrial]) -> int:
        """Started trials that count: not waiting, and not replaced by a retry."""
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
        return sum(
            t.state != TrialState.WAITING and t.number not in retried and self.mine(t)
            for t in trials
        )

    def running(self, trials: Sequence[FrozenTrial]) -> int:
        """Counted trials still running (possibly on a worker that died)."""
        return sum(t.state == TrialState.RUNNING and self.mine(t) for t in trials)


class ClaimLock:
    """A lock shared by every worker of one study, held while a worker counts and starts a trial.

    PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a key derived from the study
    name, so workers on every machine take turns. SQLite and journal files: an ``flock`` on
    ``<file>.claim-lock`` beside the database (such storage is local to one machine). Any other
    storage: a lock within this process only (``exact`` is False: the count may be overshot by
    workers elsewhere).
    """

    def __init__(self, storage_url: str, study_name: str) -> None:
        self._thread_lock = threading.Lock()
        self._file: Path | None = None
        self._engine: Any = None
        self._conn: Any = None
        self._key = int.from_bytes(
            hashlib.sha256(f"search:{study_name}".encode()).digest()[:8], "big", signed=True
        )
        self.exact = True
        if storage_url.startswith("journal://"):
            # not "<file>.lock": Optuna's journal backend uses that name for its own lock
            self._file = Path(storage_url.removeprefix("journal://") + ".claim-lock")
            return
        from sqlalchemy.engine import make_url

        url = make_url(storage_url)
        backend = url.get_backend_name()
        if backend == "sqlite" and url.database and url.database != ":memory:":
            self._file = Path(url.database + ".claim-lock")
        elif backend == "postgresql":
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            self._engine = sqlalchemy.create_engine(
                storage_url, poolclass=NullPool, connect_args={"connect_timeout": 10}
            )
        elif backend != "sqlite":  # in-memory SQLite has one process anyway
            self.exact = False

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._file is not None:
                self._fd = os.open(self._file, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            elif self._engine is not None:
                from sqlalchemy import text

                if self._conn is None:
                    self._conn = self._engine.connect()
                self._conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
                self._conn.commit()
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._file is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            elif self._conn is not None:
                from sqlalchemy import text

                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Release the lock's database connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()


def _fail_stale_trials(study: optuna.Study) -> None:
    """Fail trials whose worker stopped sending heartbeats (and queue their retries)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _claim(
    study: optuna.Study, budget: TrialBudget, lock: ClaimLock
) -> tuple[optuna.trial.Trial | None, int]:
    """Start the next trial if the budget allows: ``(trial, 0)``, else ``(None, still running)``."""
    with lock:
        trials = study.get_trials(deepcopy=False)
        if budget.limit is not None and budget.counted(trials) >= budget.limit:
            return None, budget.running(trials)
        with warnings.catch_warnings():  # "heartbeat is supposed to be used with optimize": this
            warnings.filterwarnings("ignore", message="Heartbeat of storage")  # loop runs it
            trial = study.ask()  # a queued preset or retry first, else a new trial
        # A first heartbeat at once: a trial without any is never found stale (Optuna's rule).
        from optuna.storages._heartbeat import is_heartbeat_enabled

        if is_heartbeat_enabled(study._storage):
            study._storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
        trial.set_user_attr(RUN_ATTR, budget.run)
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
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


def _record_interrupted(study: optuna.Study, trial: optuna.trial.Trial) -> None:
    """Store the trial as failed (``interrupted``), close its MLflow run, queue it again."""
    from search._study import MAX_RETRY

    trial.set_user_attr("interrupted", True)
    trial.set_user_attr("fail_reason", INTERRUPTED_REASON)
    frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    close_mlflow_run(frozen, "KILLED")
    retry = copy.deepcopy(frozen)
    retry.user_attrs = {
        k: v for k, v in frozen.user_attrs.items() if k not in ("interrupted", "fail_reason")
    }
    optuna.storages.RetryHeartbeatStaleTrialCallback(
        max_retry=MAX_RETRY, inherit_intermediate_values=True
    )(study, retry)


def _run_one(
    study: optuna.Study,
    trial: optuna.trial.Trial,
    func: Callable[[optuna.trial.Trial], float | Sequence[float]],
    interrupt: _InterruptOnce,
) -> FrozenTrial | None:
    """Run ``func`` on ``trial`` with Optuna's heartbeat, then store its state, as ``optimize``."""
    # Optuna's own heartbeat thread, as study.optimize uses it (no public wrapper exists).
    from optuna.storages._heartbeat import get_heartbeat_thread

    values: float | Sequence[float] | None = None
    state = TrialState.COMPLETE
    try:
        with get_heartbeat_thread(trial._trial_id, study._storage):
            if interrupt.pending:  # Ctrl-C while the trial was being started
                interrupt.fired = True
                raise KeyboardInterrupt
            values = func(trial)
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except KeyboardInterrupt:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            _record_interrupted(study, trial)
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
) -> int:
    """Start trials until ``budget`` is reached or ``clock`` says the search is over; return how many ran.

    Before each trial, stale trials (dead workers) are failed and their retries queued. When the
    budget is reached while counted trials still run elsewhere, waits for them, so a trial whose
    worker died is retried rather than lost.

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
                trial, running = _claim(study, budget, lock)
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
            frozen = _run_one(study, trial, func, handler)
            ran += 1
            if frozen is not None:
                for callback in callbacks:
                    callback(study, frozen)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return ran


def worker_threads(workers: int, threads: int | None) -> int:
    """TensorFlow threads per worker: ``--threads``, or an equal share of the cores."""
    if threads:
        return threads
    return max(1, (os.cpu_count() or 1) // workers)


def _gpu_ids() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries."""
    import tensorflow as tf

    count = len(tf.config.list_physical_devices("GPU"))
    visible = [
        v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()
    ]
    return visible[:count] if visible else [str(i) for i in range(count)]


def check_workers(settings: SearchSettings) -> None:
    """Refuse what several workers cannot share.

    Raises:
        UsageError: an in-memory storage with ``--workers`` above 1.
    """
    from search._search import UsageError

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


def _worker_main(settings: SearchSettings, index: int) -> None:
    """A worker process: open the (already checked) study, run trials until the budget is spent."""
    from search._cli import exit_on_usage_error, setup_logging
    from search._search import prepare, run_search

    setup_logging(settings.verbose)
    with exit_on_usage_error(f"search.run worker {index}"):
        prepared = prepare(settings)
        # Same --seed in every worker would sample the same trials: give each its own stream, as
        # Optuna does for its parallel threads (the seed still fixes the data split).
        prepared.study.sampler.reseed_rng()
        from search.tracking import observers_for

        try:
            run_search(prepared, observers_for(settings))
        except KeyboardInterrupt:
            sys.exit(130)


def run_workers(prepared: Prepared, observers: list[TrialObserver] | None = None) -> SearchSummary:
    """Run ``settings.workers`` worker processes on the prepared study; summarise once at the end.

    Raises:
        KeyboardInterrupt: after every worker stopped (Ctrl-C).
    """
    from search._artifacts import OptunaArtifacts
    from search._devices import device_description
    from search._observers import ObserverGroup
    from search._search import finish_search, make_clock
    from search._study import enqueue_presets, redact

    s, study = prepared.settings, prepared.study
    group = ObserverGroup([OptunaArtifacts(prepared.artifact_store), *(observers or [])])
    if s.enqueue_presets:  # once, here, not by every worker
        queued = enqueue_presets(
            study, prepared.space, s.dataset_name, prepared.data.input_shape, prepared.data.num_classes
        )
        if queued:
            _log.info("enqueued presets: %s", ", ".join(queued))
    run_tag = s.run_tag or uuid.uuid4().hex
    threads = worker_threads(s.workers, s.threads)
    gpus = _gpu_ids() if s.gpus else []
    if s.gpus and not gpus:
        _log.warning("--gpus: no GPU found; the workers train on the CPU")
    probe = ClaimLock(s.storage, study.study_name)
    if not probe.exact:
        _log.warning(
            "storage %s: workers on other machines may overshoot the trial count", redact(s.storage)
        )
    probe.close()
    _log.info(
        "study %s: %s on %s, %d workers x %d threads%s, %s, sampler %s, pruner %s, storage %s",
        study.study_name,
        s.family,
        prepared.data.summary(),
        s.workers,
        threads,
        f" on GPUs {','.join(gpus)}" if gpus else "",
        device_description() if not gpus else "GPU",
        s.sampler,
        "none" if len(s.objectives) > 1 else s.pruner,
        redact(s.storage),
    )
    group.on_search_start(study)
    clock = make_clock(prepared)
    ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
    processes = []
    start = time.perf_counter()
    for index in range(s.workers):
        child = dataclasses.replace(
            s,
            workers=1,
            worker_index=index,
            enqueue_presets=False,
            evaluate=False,
            run_tag=run_tag,
            threads=threads,
            started=clock.started,  # one budget for all: the workers' trials end when the parent's search does
        )
        env = {"CUDA_VISIBLE_DEVICES": gpus[index % len(gpus)]} if gpus else {}
        with _environment(env):
            process = ctx.Process(
                target=_worker_main, args=(child, index), name=f"search-worker-{index}"
            )
            process.start()
        processes.append(process)
    interrupted = _join(processes)
    trials = study.get_trials(deepcopy=False)
    return finish_search(
        prepared,
        group,
        trials_this_run=sum(
            t.state.is_finished() and t.user_attrs.get(RUN_ATTR) == run_tag for t in trials
        ),
        wall_seconds=time.perf_counter() - start,
        interrupted=interrupted,
        clock=clock,
    )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables while a child process starts (spawned children inherit them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _join(processes: list[Any]) -> bool:
    """Wait for the workers; on Ctrl-C pass SIGINT on to each and wait on. True if interrupted."""
    interrupted = False
    reported: set[int] = set()
    while any(p.is_alive() for p in processes):
        try:
            for p in processes:
                p.join(0.2)
                _report_exit(p, reported)
        except KeyboardInterrupt:
            if not interrupted:
                interrupted = True
                _log.warning(
                    "interrupted: stopping the workers; their trials are recorded and queued again"
                )
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers finish recording
            for p in processes:
                if p.is_alive() and p.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, signal.SIGINT)
    for p in processes:
        _report_exit(p, reported)
    if interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return interrupted or any(p.exitcode == 130 for p in processes)


def _report_exit(process: Any, reported: set[int]) -> None:
    code = process.exitcode
    if code is None or code in (0, 130) or id(process) in reported:
        return
    reported.add(id(process))
    if code < 0:
        _log.warning(
            "%s was killed (signal %d): its trial is failed after the grace period and retried",
            process.name,
            -code,
        )
    else:
        _log.warning("%s ended with exit code %d", process.name, code)
