"""Training one candidate: build, compile, fit with validation every epoch, measure.

Nothing here knows about Optuna or MLflow: callers pass extra Keras callbacks (pruning, epoch
observers, checkpoints) and get a :class:`TrainResult` back; a trial over its time budget raises
:class:`OverBudget`.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from search.data import EVAL_BATCH_SIZE, Dataset, batches
from search.training._cost import TOO_SLOW
from spaces import Candidate, Space

__all__ = [
    "EpochTimer",
    "FinalFit",
    "NonFiniteLossError",
    "OverBudget",
    "TrainResult",
    "TrialTimeBudget",
    "fit_candidate",
    "fit_final",
    "prepare_model",
]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: the configuration diverged."""


@dataclass
class TrainResult:
    """What one training run measured."""

    history: dict[str, list[float]]  # per-epoch Keras logs: loss, accuracy, val_loss, val_accuracy, learning_rate
    val_accuracy: float  # best validation accuracy over the epochs (the objective)
    best_epoch: int  # 0-based epoch of that accuracy; the returned model holds its weights
    epochs_run: int
    train_seconds: float  # wall time of model.fit, validation included
    seconds_per_epoch: float  # mean of the whole epochs: a last one cut short (time budget) is left out
    param_count: int
    images_per_second: float  # training images processed per second of fit time
    model: keras.Model = field(repr=False)


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time and the learning rate in the logs (``epoch_seconds``, ``learning_rate``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        if logs is not None:
            logs["epoch_seconds"] = self.seconds[-1]
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class _BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best validation accuracy, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.best = -math.inf
        self.best_epoch = -1
        self.weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        acc = (logs or {}).get("val_accuracy")
        if acc is not None and acc > self.best:
            self.best, self.best_epoch = float(acc), epoch
            self.weights = self.model.get_weights()


class OverBudget(Exception):
    """A trial cannot train within its time budget (the trial loop records it as pruned)."""


class TrialTimeBudget(keras.callbacks.Callback):
    """Stops a trial that cannot use the time it has well, as soon as that is known.

    Two clocks bound a trial. The search's end (``deadline``) is hard: a trial still training
    then stops, pruned if it has not finished an epoch, else ended after a shortened last epoch
    with its best validation accuracy so far, like early stopping (:attr:`stopped`). The trial's
    own cap (``seconds``, from its start) is softer: it never stops a trial before its first rung
    (``first_rung`` epochs, where the pruner first compares it), and when ``leads`` is given (a
    cap the platform derived, not the user's ``--trial-timeout``) never a trial whose validation
    accuracy leads the study.

    A trial must be on track to reach its first rung in time. After a few seconds of its first
    epoch, the pace of its batches (not counting the first :attr:`WARMUP_BATCHES`, which include
    graph tracing) gives its seconds per epoch (:attr:`seconds_per_epoch`); a trial that could not
    reach its first rung before the deadline (or, with a user's cap, within it) stops at once with
    :class:`OverBudget`, so the sampler ranks it below every trial that finished and learns to avoid
    that region, and it costs no more training.

    Args:
        seconds: the trial's own cap, from its start (None: none).
        deadline: when the search ends, in ``time.monotonic`` seconds (None: never).
        first_rung: epochs the trial must be able to train in time (capped at its planned epochs).
        leads: given the trial's best validation accuracy so far, whether it leads the study; a
            leading trial is not stopped by ``seconds`` (None: the cap binds every trial).
        measure_seconds: how long the pace of batches is measured before projecting.
    """

    WARMUP_BATCHES = 3  # batches not timed: the first include tracing and compiling the graph

    def __init__(
        self,
        seconds: float | None = None,
        measure_seconds: float = 3.0,
        *,
        deadline: float | None = None,
        first_rung: int = 1,
        leads: Callable[[float], bool] | None = None,
    ) -> None:
        super().__init__()
        self.seconds, self.measure_seconds = seconds, measure_seconds
        self.deadline, self.first_rung, self.leads = deadline, max(1, first_rung), leads
        self._epoch = 0
        self._epochs_done = 0  # in this fit
        self._reached = 0  # epochs of the trial done, counting those before a resume
        self._best = -math.inf
        self._leading: bool | None = None  # what ``leads`` said since the last epoch ended
        self.stopped = False  # a clock ended training after at least one epoch
        self.seconds_per_epoch: float | None = None  # measured from the first batches
        self._start = time.perf_counter()
        self._pace_start: tuple[int, float] | None = None
        self._projected = False
        self.exceeded = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        self._pace_start, self._projected = None, False
        self._epochs_done, self._reached, self._best, self._leading = 0, 0, -math.inf, None
        self.stopped = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._reached = max(self._reached, epoch)  # a resumed trial did its first epochs before

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epochs_done += 1
        self._reached = epoch + 1
        acc = (logs or {}).get("val_accuracy")
        if acc is not None and math.isfinite(float(acc)):
            self._best = max(self._best, float(acc))
        self._leading = None  # asked again, once, if the cap has run out: it may read a database
        if self.seconds is not None and time.perf_counter() - self._start > self.seconds and self._over_cap():
            self.stopped = self.model.stop_training = True  # not one batch more

    def _stop(self, why: str) -> None:
        self.exceeded = True
        raise OverBudget(why)

    def _over_cap(self) -> bool:
        """The trial's own cap has run out and stops it now."""
        if self.leads is None:
            return True  # the user's cap binds every trial
        if self._reached < self.first_rung:
            return False  # a derived cap lets every trial reach its first rung
        if self._leading is None:
            self._leading = bool(self.leads(self._best))
        return not self._leading

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            if not self._epochs_done:  # nothing measured yet: the trial has no value to give
                self._stop("the search's time budget ran out before its first epoch ended")
            self.stopped = self.model.stop_training = True  # end this epoch early, keep the best one
            return
        if self.seconds is not None and now - self._start > self.seconds and self._over_cap():
            if not self._epochs_done:
                self._stop(f"over the per-trial time budget of {self.seconds:.0f}s")
            self.stopped = self.model.stop_training = True
            return
        if not self._projected:
            self._project(batch, now)

    def _project(self, batch: int, now: float) -> None:
        if self._pace_start is None:
            if batch + 1 >= self.WARMUP_BATCHES:
                self._pace_start = (batch, now)
            return
        first_batch, since = self._pace_start
        if now - since < self.measure_seconds or batch == first_batch:
            return
        self._projected = True
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        if not steps or not epochs:
            return
        per_batch = (now - since) / (batch - first_batch)
        self.seconds_per_epoch = per_batch * steps
        rung = min(self.first_rung, epochs) - self._epoch  # epochs to its first rung, this one included
        if rung <= 0:
            return
        needed = per_batch * ((steps - batch - 1) + steps * (rung - 1))
        pace = f"about {self.seconds_per_epoch:.0f} s per epoch"
        if self.deadline is not None and needed > self.deadline - time.monotonic():
            left = max(0.0, self.deadline - time.monotonic())
            self._stop(
                f"{TOO_SLOW}: {pace}; projected to reach its first rung (epoch "
                f"{self._epoch + rung}) in {now - self._start + needed:.0f}s, {left:.0f}s left of the search"
            )
        if self.leads is None and self.seconds is not None and now - self._start + needed > self.seconds:
            self._stop(
                f"projected to reach its first rung (epoch {self._epoch + rung}) in "
                f"{now - self._start + needed:.0f}s ({pace}), over the per-trial time budget of {self.seconds:.0f}s"
            )


class _StopOnNonFinite(keras.callbacks.Callback):
    """Stops at the first non-finite loss and remembers where."""

    def __init__(self) -> None:
        super().__init__()
        self.bad_epoch: int | None = None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad_epoch = self._epoch
            self.model.stop_training = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch


_frozen = False


def _freeze_long_lived_objects() -> None:
    """Keep what the process holds before its first model out of every later garbage collection.

    ``clear_session`` collects garbage before each trial. In a process that has imported
    TensorFlow, Optuna, MLflow and SQLAlchemy and loaded its data, a full collection walks millions
    of objects that live as long as the process (0.3 s a trial here); :func:`gc.freeze` moves them
    to a generation the collector skips, so it walks only what the trials made. Trials' models and
    graphs are created after it, and collected as before.
    """
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True


def prepare_model(space: Space, candidate: Candidate, data: Dataset, *, jit: bool = False) -> keras.Model:
    """A freshly built and compiled model, after clearing the previous trial's graph
    (``jit``: compile its training step with XLA)."""
    keras.backend.clear_session()  # also collects garbage (gc.collect)
    _freeze_long_lived_objects()
    model = space.build_model(candidate, data.input_shape, data.num_classes)
    space.compile(model, candidate, jit=True if jit else "auto")
    return model


def _pace(epoch_seconds: Sequence[float], *, stopped_early: bool) -> float:
    """Seconds per epoch: the mean, without the last epoch of a run stopped early (the time budget
    may have cut it short). Not the median: on this 2-core machine some epochs of a model take
    twice as long as others, and a refit planned on the median overran its time (README)."""
    whole = list(epoch_seconds[:-1] if stopped_early and len(epoch_seconds) > 1 else epoch_seconds)
    return sum(whole) / len(whole) if whole else 0.0


def fit_candidate(
    space: Space,
    candidate: Candidate,
    data: Dataset,
    *,
    max_epochs: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool = False,
    initial_epoch: int = 0,
    model: keras.Model | None = None,
) -> TrainResult:
    """Train ``candidate`` on the training split, validating on the validation split each epoch.

    Args:
        space: the candidate's family.
        candidate: architecture and training settings.
        data: the data set (its test split is not touched).
        max_epochs: cap on the candidate's own epoch count.
        callbacks: extra Keras callbacks, called after the platform's own.
        verbose: show Keras' per-epoch progress.
        initial_epoch: resume at this epoch (with ``model`` restored from a checkpoint).
        model: an already prepared model (e.g. restored); built fresh when None.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
    """
    epochs = min(candidate.train.epochs, max_epochs)
    if model is None:
        model = prepare_model(space, candidate, data)
    timer, best, nan_guard = EpochTimer(), _BestWeights(), _StopOnNonFinite()
    start = time.perf_counter()
    history = model.fit(
        batches(data.x_train, data.y_train, data.num_classes, candidate.train.batch_size, shuffle=True),
        shuffle=False,  # the pipeline reshuffles every epoch
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=batches(data.x_val, data.y_val, data.num_classes, EVAL_BATCH_SIZE, shuffle=False),
        callbacks=[
            timer,
            nan_guard,
            *candidate.train.schedule_callbacks(epochs),
            best,
            *callbacks,
        ],
        verbose=2 if verbose else 0,
    )
    seconds = time.perf_counter() - start
    if nan_guard.bad_epoch is not None:
        raise NonFiniteLossError(f"loss became non-finite in epoch {nan_guard.bad_epoch + 1}")
    if best.weights is not None:
        model.set_weights(best.weights)
    epochs_run = len(timer.seconds)
    return TrainResult(
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        val_accuracy=best.best,
        best_epoch=best.best_epoch,
        epochs_run=epochs_run,
        train_seconds=seconds,
        seconds_per_epoch=_pace(timer.seconds, stopped_early=initial_epoch + epochs_run < epochs) or seconds,
        param_count=int(model.count_params()),
        images_per_second=len(data.x_train) * epochs_run / max(seconds, 1e-9),
        model=model,
    )


@dataclass
class FinalFit:
    """What training on every labelled image measured (:func:`fit_final`)."""

    history: dict[str, list[float]]  # per-epoch Keras logs: loss, accuracy, epoch_seconds, learning_rate
    epochs_run: int  # epochs begun; the last may be cut short when ``finished`` is False
    finished: bool  # every planned epoch ran (the deadline did not stop it)
    train_seconds: float
    images: int  # training images per epoch
    model: keras.Model = field(repr=False)


class _StopAt(keras.callbacks.Callback):
    """Stops training after the batch during which ``deadline`` (``time.monotonic``) passes
    (``stopped``), unless that batch was the run's last."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.stopped = False
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        last = self._epoch == self.params.get("epochs", 0) - 1 and batch == self.params.get("steps", 0) - 1
        if time.monotonic() >= self.deadline and not last:
            self.stopped = self.model.stop_training = True


def fit_final(
    space: Space,
    candidate: Candidate,
    data: Dataset,
    *,
    epochs: int,
    schedule_epochs: int,
    deadline: float | None = None,
    verbose: bool = False,
    jit: bool = False,
) -> FinalFit:
    """Train ``candidate`` from scratch on the training and validation splits together.

    Nothing is held out, so nothing is monitored: the run trains ``epochs`` epochs and returns the
    last weights (the epoch count was chosen on validation before). The test split is not touched.

    Args:
        space: the candidate's family.
        candidate: architecture and training settings.
        data: the data set.
        epochs: epochs to train.
        schedule_epochs: the length the learning-rate schedule spans, as in the trial that chose
            ``epochs`` (cosine decay reaches 0 at its end); reduce-on-plateau watches the training loss.
        deadline: stop after the batch during which this ``time.monotonic`` time passes.
        verbose: show Keras' per-epoch progress.
        jit: compile the training step with XLA.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
    """
    model = prepare_model(space, candidate, data, jit=jit)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    timer, nan_guard = EpochTimer(), _StopOnNonFinite()
    callbacks: list[keras.callbacks.Callback] = [
        timer,
        nan_guard,
        *candidate.train.schedule_callbacks(schedule_epochs, monitor="loss"),
    ]
    stop = _StopAt(deadline) if deadline is not None else None
    if stop is not None:
        callbacks.append(stop)
    start = time.perf_counter()
    history = model.fit(
        batches(x, y, data.num_classes, candidate.train.batch_size, shuffle=True),
        shuffle=False, epochs=epochs, callbacks=callbacks, verbose=2 if verbose else 0,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if nan_guard.bad_epoch is not None:
        raise NonFiniteLossError(f"loss became non-finite in epoch {nan_guard.bad_epoch + 1}")
    stopped = stop is not None and stop.stopped
    return FinalFit(
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        epochs_run=len(timer.seconds),
        finished=not stopped,
        train_seconds=seconds,
        images=len(x),
        model=model,
    )
