"""What a person reads while the study runs.

* Always (unless ``--quiet``): one line per finished trial (:class:`ProgressPrinter`).
* In a terminal: a live view drawn by rich (:class:`LiveProgress`): the search's line (trials
  done, running, pruned, failed; best so far; elapsed and left of ``--timeout``) and one line per
  worker with its trial's epoch, batch bar and ETA. Each process reports its trial's progress
  (:class:`TrialProgress`) to the view: directly, or through a queue from ``--workers`` processes
  (:meth:`LiveProgress.follow`); the view polls the study for the counts.
* Not in a terminal (a log file, CI): the lines of finished trials, and a line per epoch of a
  trial that has run longer than :data:`~search.core.EPOCH_LINES_AFTER_SECONDS`, so a log shows
  the search is alive.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.core import SearchClock, epoch_lines_after
from search.records import TrialRecord
from search.training import TOO_SLOW
from search.trials._observers import TrialObserver, TrialOutcome, TrialStart
from search.trials._records import CANNOT_BE_BUILT

__all__ = [
    "LiveProgress",
    "ProgressPrinter",
    "TrialProgress",
    "TrialStatus",
    "format_value",
    "trial_line",
]

_log = logging.getLogger("search")

#: shown for every trial, when sampled: the knobs every family shares
_KEY_PARAMS = ("optimizer", "learning_rate", "batch_size")


def format_value(value: Any) -> str:
    """A parameter value, short: ``1.00e-03``, ``0.25``, ``adam``."""
    if isinstance(value, float):
        return f"{value:.2e}" if value and abs(value) < 1e-2 else f"{value:.3g}"
    return str(value)


def _or_unknown(value: Any, unknown: str = "?") -> Any:
    """``value``, or ``unknown`` when it was not recorded."""
    return unknown if value is None else value


def trial_line(trial: FrozenTrial, best: float | None) -> str:
    """``trial 7  complete  val_acc 0.9012 (best 0.9102)  10 epochs  45.2s  306,906 params  adam lr=1e-3 batch=128``."""
    record = TrialRecord.of(trial)
    head = f"trial {trial.number:>3}"
    if record.preset:
        head += f" [{record.preset}]"
    acc = record.val_accuracy
    parts = [head]
    if trial.state == TrialState.COMPLETE:
        parts.append("complete")
    elif trial.state == TrialState.PRUNED:
        reason = record.pruned_reason or ""
        if reason.startswith(CANNOT_BE_BUILT):
            parts.append(f"pruned: {reason}")
        else:
            why = " (time budget)" if "time budget" in reason else ""
            if reason.startswith(TOO_SLOW):
                why = f" ({TOO_SLOW})"
            parts.append(f"pruned at epoch {_or_unknown(record.pruned_epoch)}{why}")
    else:
        state = "failed" if trial.state == TrialState.FAIL else trial.state.name.lower()
        parts.append(f"{state}: {_or_unknown(record.fail_reason, 'no reason recorded')}")
    if acc is not None:
        parts.append(f"val_acc {acc:.4f}" + (f" (best {best:.4f})" if best is not None else ""))
    if trial.state == TrialState.COMPLETE:
        budget = " (time budget)" if record.stopped_by_time_budget else ""
        parts.append(f"{_or_unknown(record.epochs_run)} epochs{budget}")
    if record.training_seconds is not None:
        parts.append(f"{record.training_seconds:.1f}s")
    if record.param_count is not None:
        parts.append(f"{record.param_count:,} params")
    params = trial.params
    knobs = [f"{k}={format_value(params[k])}" for k in _KEY_PARAMS if k in params]
    return "  ".join(parts + knobs)


class ProgressPrinter:
    """Optuna study callback that logs one line per finished trial.

    Args:
        sink: where the line goes instead of the log (a ``--workers`` process hands it to the
            parent's live view, which prints it above the view); None: the ``search`` logger.
        slot: the worker's line in the live view.
    """

    def __init__(self, sink: Callable[[TrialStatus], None] | None = None, slot: int = 0) -> None:
        self.sink, self.slot = sink, slot

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        best = None
        if len(study.directions) == 1:
            try:
                best = study.best_value
            except ValueError:
                best = None
        line = trial_line(trial, best)
        if self.sink is None:
            _log.info("%s", line)
        else:
            self.sink(TrialStatus(self.slot, trial.number, line=line))


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass(frozen=True)
class TrialStatus:
    """Where a worker's trial is (picklable: it crosses from ``--workers`` processes).

    ``line`` set: the finished trial's line, to print; ``done``: the worker's trial ended.
    """

    slot: int
    trial: int
    epoch: int = 0  # 1-based epoch in progress
    epochs: int = 0
    batch: int = 0
    batches: int | None = None
    elapsed: float = 0.0  # seconds since the trial started training
    eta: float | None = None  # seconds left, estimated from the batches done
    done: bool = False
    line: str | None = None


class TrialProgress(TrialObserver):
    """Follows each trial of this process: its epoch and batch for a live view, and in a plain
    log a line per epoch once the trial has run longer than ``epoch_lines_after`` seconds.

    Args:
        sink: receives a :class:`TrialStatus` at most every ``every`` seconds, and at each
            epoch's end (None: no live view).
        slot: this worker's line in the live view.
        epoch_lines: log a line per epoch of a long trial (stdout is not a terminal).
        lines_after: seconds before that starts (default ``$SEARCH_PROGRESS_EPOCH_LINES_AFTER``
            or :data:`~search.core.EPOCH_LINES_AFTER_SECONDS`).
        every: seconds between two updates of the live view.
    """

    def __init__(
        self,
        sink: Callable[[TrialStatus], None] | None = None,
        *,
        slot: int = 0,
        epoch_lines: bool = False,
        lines_after: float | None = None,
        every: float = 0.25,
    ) -> None:
        self.sink, self.slot, self.epoch_lines, self.every = sink, slot, epoch_lines, every
        self.after = lines_after if lines_after is not None else epoch_lines_after()
        self._started: float = 0.0
        self._epochs = 0
        self._sent = 0.0

    def _status(self, trial: optuna.trial.Trial, epoch: int, batch: int, batches: int | None) -> TrialStatus:
        elapsed = time.monotonic() - self._started
        done = epoch + (batch / batches if batches else 0.0)
        eta = elapsed * (self._epochs - done) / done if done > 0 and self._epochs else None
        return TrialStatus(self.slot, trial.number, epoch + 1, self._epochs, batch, batches, elapsed, eta)

    def on_trial_start(self, start: TrialStart) -> None:
        self._started, self._epochs, self._sent = time.monotonic(), start.epochs, 0.0
        if self.sink is not None:
            self.sink(TrialStatus(self.slot, start.trial.number, 1, start.epochs))

    def on_batch_end(self, trial: optuna.trial.Trial, epoch: int, batch: int, batches: int | None) -> None:
        now = time.monotonic()
        if self.sink is not None and now - self._sent >= self.every:
            self._sent = now
            self.sink(self._status(trial, epoch, batch, batches))

    def on_epoch_end(self, trial: optuna.trial.Trial, epoch: int, logs: dict[str, float]) -> None:
        status = self._status(trial, epoch + 1, 0, None)
        if self.sink is not None:
            self.sink(status)
        if self.epoch_lines and status.elapsed >= self.after:
            acc = logs.get("val_accuracy")
            left = f", about {_clock_text(status.eta)} left" if status.eta is not None else ""
            _log.info(
                "trial %3d  epoch %d/%d%s  %s elapsed%s",
                trial.number, epoch + 1, self._epochs,
                f"  val_acc {acc:.4f}" if acc is not None else "", _clock_text(status.elapsed), left,
            )  # fmt: skip

    def on_trial_end(self, outcome: TrialOutcome) -> None:
        if self.sink is not None:
            self.sink(TrialStatus(self.slot, outcome.trial.number, done=True))


class LiveProgress:
    """The live view of a search in a terminal, drawn by rich.

    One line for the search (trials of this invocation done, running, pruned, failed; the best
    value so far; elapsed and left of ``--timeout``), one per worker with its trial's epoch, a bar
    of the epoch's batches and the trial's ETA. Lines logged meanwhile (finished trials) print
    above it. Use as a context manager; :meth:`update` takes :class:`TrialStatus` reports.

    Args:
        study: the study, polled every ``poll`` seconds for the counts and the best value.
        run_tag: the invocation's id (user attribute ``search_run`` of its trials).
        clock: the invocation's clock (elapsed, and what is left of ``--timeout``).
        trials: the invocation's trial budget (None: until the timeout).
        workers: how many worker lines.
        console: a rich console (default: stdout's).
        poll: seconds between two reads of the study.
    """

    def __init__(
        self,
        study: optuna.Study,
        run_tag: str,
        clock: SearchClock,
        *,
        trials: int | None = None,
        workers: int = 1,
        console: Any = None,
        poll: float = 2.0,
    ) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.study, self.run_tag, self.clock, self.trials, self.poll = study, run_tag, clock, trials, poll
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            refresh_per_second=4,
            redirect_stdout=True,
            redirect_stderr=True,
            transient=False,
        )
        self._search = self.progress.add_task("search", total=trials, detail="starting")
        self._slots = [
            self.progress.add_task(f"worker {i}" if workers > 1 else "trial", total=None, detail="waiting", start=False)
            for i in range(workers)
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        self._refresh_search()
        self._spawn(self._poll_loop, "search-progress-poll")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._refresh_search()
        self.progress.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def follow(self, reports: Any) -> None:
        """Take :class:`TrialStatus` reports from ``reports`` (a multiprocessing queue of the
        ``--workers`` processes) until the view stops."""

        def drain() -> None:
            while not self._stop.is_set():
                try:
                    self.update(reports.get(timeout=0.2))
                except queue.Empty:
                    continue
                except (EOFError, OSError):  # the queue closed
                    return

        self._spawn(drain, "search-progress-reports")

    def update(self, status: TrialStatus) -> None:
        """Show a worker's report (thread-safe)."""
        if status.line is not None:
            _log.info("%s", status.line)
            self._refresh_search()
            return
        task = self._slots[min(status.slot, len(self._slots) - 1)]
        if status.done:
            self.progress.update(task, total=None, completed=0, detail="waiting")
            return
        batches = status.batches
        eta = f"  ETA {_clock_text(status.eta)}" if status.eta is not None else ""
        self.progress.update(
            task,
            total=batches,
            completed=status.batch if batches else 0,
            detail=f"trial {status.trial}  epoch {status.epoch}/{status.epochs}  {_clock_text(status.elapsed)}{eta}",
        )
        self.progress.start_task(task)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll):
            self._refresh_search()

    def _refresh_search(self) -> None:
        try:
            trials = self.study.get_trials(deepcopy=False)
        except Exception:  # a busy database: next time
            return
        mine = [t for t in trials if TrialRecord.of(t).search_run == self.run_tag]
        count = {s: sum(t.state == s for t in mine) for s in TrialState}
        finished = count[TrialState.COMPLETE] + count[TrialState.PRUNED] + count[TrialState.FAIL]
        parts = [
            f"{count[TrialState.COMPLETE]} done, {count[TrialState.RUNNING]} running, "
            f"{count[TrialState.PRUNED]} pruned" + (f", {count[TrialState.FAIL]} failed" if count[TrialState.FAIL] else "")
        ]
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
        if complete and len(self.study.directions) == 1:
            sign = 1 if self.study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
            best = max(complete, key=lambda t: sign * t.values[0])
            parts.append(f"best {best.values[0]:.4f} (trial {best.number})")
        elif complete:
            parts.append(f"{len(complete)} complete in the study")
        elapsed = time.monotonic() - self.clock.started
        parts.append(f"elapsed {_clock_text(elapsed)}")
        if self.clock.end is not None:
            parts.append(f"left {_clock_text(self.clock.end - time.monotonic())}")
        self.progress.update(self._search, completed=finished, detail="  ".join(parts))
