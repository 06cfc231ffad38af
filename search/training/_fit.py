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

from search.core import WALL_CLOCK, Clock
from search.data import EVAL_BATCH_SIZE, Dataset, batches, stratified_subset
from search.training._cost import TOO_SLOW
from search.training._deadline import StopAt
from search.training._devices import float32_copy, use_precision
from spaces import Candidate, SearchSpace

__all__ = [
    "FIRST_EPOCH_FRACTION",
    "FIRST_EPOCH_MIN_IMAGES",
    "EpochTimer",
    "FinalFit",
    "NonFiniteLossError",
    "OverBudget",
    "TrainResult",
    "TrialTimeBudget",
    "first_epoch_images",
    "fit_candidate",
    "fit_final",
    "prepare_model",
]

#: the share of the training images a trial's first epoch trains on (``--first-epoch-fraction``).
#: The pruners first compare trials after their second epoch (``FIRST_RUNG``), so that first
#: comparison costs two whole epochs of every candidate, most of which are then pruned. With a
#: quarter of the images in the first epoch it costs 1.25 epochs of training (validation is
#: unchanged); the second epoch, on every image, is what the pruner judges, and it continues the
#: same model, so the candidates are still ranked after more than one epoch of training.
FIRST_EPOCH_FRACTION = 0.25

#: the first epoch trains on at least this many images (500 per class of a 10-class data set: a
#: smaller subset ranks models on noise), and on all of them when the training split has fewer
#: than twice as many: on a small data set an epoch is already cheap and a subset saves nothing
#: worth a second ``model.fit``
FIRST_EPOCH_MIN_IMAGES = 5_000


def first_epoch_images(train_images: int, fraction: float | None) -> int | None:
    """Images a trial's first epoch trains on: ``fraction`` of ``train_images``, at least
    :data:`FIRST_EPOCH_MIN_IMAGES`; None (every image) when ``fraction`` is None or 1, when the
    training split has fewer than twice :data:`FIRST_EPOCH_MIN_IMAGES` images, or when the
    subset would hold them all."""
    if fraction is None or fraction >= 1.0 or train_images < 2 * FIRST_EPOCH_MIN_IMAGES:
        return None
    size = max(FIRST_EPOCH_MIN_IMAGES, math.ceil(fraction * train_images))
    return size if size < train_images else None


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
    first_epoch_images: int | None = None  # the stratified subset the first epoch trained on (None: all)


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time and the learning rate in the logs (``epoch_seconds``,
    ``learning_rate``); :attr:`train_seconds` holds each epoch's time before its validation."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.train_seconds: list[float] = []
        self._start = 0.0
        self._trained: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start, self._trained = time.perf_counter(), None

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._trained is None:  # the epoch's validation begins
            self._trained = time.perf_counter() - self._start

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        self.train_seconds.append(self.seconds[-1] if self._trained is None else self._trained)
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

    Two clocks bound a trial. The search's end (``deadline``: ``search_end``, read through a
    :class:`~search.training.StopAt`) is hard: a trial still training then stops, pruned if it has
    not finished an epoch, else ended after a shortened last epoch with its best validation
    accuracy so far, like early stopping (:attr:`stopped`). The trial's
    own cap (``seconds``, from its start) is softer: it never stops a trial before its first rung
    (``first_rung`` epochs, where the pruner first compares it), and when ``leads`` is given (a
    cap the platform derived, not the user's ``--trial-timeout``) never a trial that ``leads``
    says should go on (it leads the study, or is ahead of the leader at the same epoch), unless
    its next epoch would end past ``until``: going on is bounded too, so that on a slow machine
    one trial ahead of another cannot take the time of every candidate after it.

    A trial must be on track to reach its first rung in time. After a few seconds of its first
    epoch, the pace of its batches (not counting the first :attr:`WARMUP_BATCHES`, which include
    graph tracing) gives its seconds per epoch (:attr:`seconds_per_epoch`: of an epoch on every
    training image, ``params["full_steps"]`` batches when its first epoch trains on a subset of
    ``params["steps"]``, see :func:`fit_candidate`; measured again from the next epoch's batches
    when an epoch ends before the pace is known); a trial that could not
    reach its first rung before the deadline (or, with a user's cap, within it) stops at once with
    :class:`OverBudget`, so the sampler ranks it below every trial that finished and learns to avoid
    that region, and it costs no more training.

    Args:
        seconds: the trial's own cap, from its start (None: none).
        deadline: when the search ends (``search_end``), on ``clock`` (None: never).
        first_rung: epochs the trial must be able to train in time (capped at its planned epochs).
        leads: given the trial's best validation accuracy so far and the epochs it has trained,
            whether it goes on past ``seconds`` (None: the cap binds every trial).
        until: seconds from its start past which a trial that ``leads`` lets go on starts no
            further epoch: one whose last epoch (or measured pace) says it would end later stops
            after the epoch it finished (None: no bound).
        measure_seconds: how long the pace of batches is measured before projecting.
        clock: where the time comes from (default: the wall clock); the trial's start, its cap,
            its bound, its pace and the deadline are all read on it.
    """

    WARMUP_BATCHES = 3  # batches not timed: the first include tracing and compiling the graph

    def __init__(
        self,
        seconds: float | None = None,
        measure_seconds: float = 3.0,
        *,
        deadline: float | None = None,
        first_rung: int = 1,
        leads: Callable[[float, int], bool] | None = None,
        until: float | None = None,
        clock: Clock = WALL_CLOCK,
    ) -> None:
        super().__init__()
        self.seconds, self.measure_seconds = seconds, measure_seconds
        self.clock = clock
        self.stop_at = StopAt(deadline, clock)  # the deadline part: whether it has come
        self.first_rung, self.leads = max(1, first_rung), leads
        self.until = until
        self._epoch = 0
        self._epoch_start = self._last_epoch_seconds = 0.0
        self._epochs_done = 0  # in this fit
        self._reached = 0  # epochs of the trial done, counting those before a resume
        self._best = -math.inf
        self._leading: bool | None = None  # what ``leads`` said since the last epoch ended
        self.stopped = False  # a clock ended training after at least one epoch
        self.seconds_per_epoch: float | None = None  # measured from the first batches
        self._start = clock.now()
        self._pace_start: tuple[int, float] | None = None
        self._projected = False
        self.exceeded = False

    @property
    def deadline(self) -> float | None:
        """When the search ends (``search_end``), on :attr:`clock` (None: never)."""
        return self.stop_at.deadline

    @deadline.setter
    def deadline(self, deadline: float | None) -> None:
        self.stop_at.deadline = deadline

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = self.clock.now()
        self._pace_start, self._projected = None, False
        self._epochs_done, self._reached, self._best, self._leading = 0, 0, -math.inf, None
        self.stopped = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._reached = max(self._reached, epoch)  # a resumed trial did its first epochs before
        self._epoch_start = self.clock.now()
        if not self._projected:  # the pace is measured within one epoch (validation is not a batch)
            self._pace_start = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epochs_done += 1
        self._reached = epoch + 1
        self._last_epoch_seconds = self.clock.now() - self._epoch_start  # its validation included
        acc = (logs or {}).get("val_accuracy")
        if acc is not None and math.isfinite(float(acc)):
            self._best = max(self._best, float(acc))
        self._leading = None  # asked again, once, if the cap has run out: it may read a database
        if self.seconds is not None and self.clock.now() - self._start > self.seconds and self._over_cap():
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
            self._leading = self._next_epoch_fits() and bool(self.leads(self._best, self._reached))
        return not self._leading

    def _next_epoch_fits(self) -> bool:
        """Whether one more epoch, as long as the last one or as the measured pace of an epoch on
        every image (the last may have trained on a subset), would end within :attr:`until`."""
        if self.until is None:
            return True
        epoch = max(self._last_epoch_seconds, self.seconds_per_epoch or 0.0)
        return self.clock.now() - self._start + epoch <= self.until

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = self.clock.now()
        if self.stop_at.passed():
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
        full = self.params.get("full_steps") or steps  # the batches of each later epoch
        per_batch = (now - since) / (batch - first_batch)
        self.seconds_per_epoch = per_batch * full
        rung = min(self.first_rung, epochs) - self._epoch  # epochs to its first rung, this one included
        if rung <= 0:
            return
        needed = per_batch * ((steps - batch - 1) + full * (rung - 1))
        pace = f"about {self.seconds_per_epoch:.0f} s per epoch"
        left = self.stop_at.left()
        if left is not None and needed > left:
            left = max(0.0, left)
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


def prepare_model(space: SearchSpace, candidate: Candidate, data: Dataset, *, jit: bool = False) -> keras.Model:
    """A freshly built and compiled model, after clearing the previous trial's graph
    (``jit``: compile its training step with XLA)."""
    keras.backend.clear_session()  # also collects garbage (gc.collect), and resets the dtype policy
    use_precision()
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


def _full_pace(timer: EpochTimer, *, stopped_early: bool, first_share: float | None) -> float:
    """Seconds per epoch on every training image (what the cost model, the clock's shortest trial
    and the refit plan read). A first epoch on a subset (``first_share`` of the images) is left
    out of the mean; when it is the only whole epoch, its training time is scaled to every image
    and its validation (always on the whole split) added once."""
    if first_share is None:
        return _pace(timer.seconds, stopped_early=stopped_early)
    later = _pace(timer.seconds[1:], stopped_early=stopped_early)
    if later and not (stopped_early and len(timer.seconds) == 2):  # epoch 1 whole
        return later
    if not timer.seconds:
        return 0.0
    train = timer.train_seconds[0]
    return train / first_share + (timer.seconds[0] - train)


class _OneRun(keras.callbacks.CallbackList):
    """A trial's callbacks over the ``model.fit`` calls of one training, seen by them as one run.

    :func:`fit_candidate` trains a first epoch on a subset of the images with one ``fit`` and the
    later epochs with another. The callbacks keep state over a run (the time budget's start, early
    stopping's patience, reduce-on-plateau's best loss), so ``on_train_begin`` reaches them at the
    first fit only and ``on_train_end`` at the last; epochs keep their numbers, and each fit's
    ``params`` (``epochs``: the run's) are passed on with ``full_steps``, the batches of an epoch
    on every training image (the first epoch's ``steps`` are fewer). The other hooks are Keras'
    :class:`~keras.callbacks.CallbackList`'s, which passes each on to every callback.

    Attributes:
        last: the current fit is the run's last; while False, the fit ends after its first epoch.
        stopped: a callback stopped training (the run ends with this fit).
    """

    def __init__(self, callbacks: Sequence[keras.callbacks.Callback], full_steps: int) -> None:
        self.full_steps = full_steps  # set_params, called by CallbackList's __init__, reads it
        super().__init__(list(callbacks))
        self.last, self.stopped, self._began = True, False, False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params({**params, "full_steps": self.full_steps} if params else params)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._began:
            self._began = True
            super().on_train_begin(logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.last:
            super().on_train_end(logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # not CallbackList's loop, which hands each callback a copy of the logs: what the timer
        # adds to them (``epoch_seconds``, ``learning_rate``) must reach Keras' History
        if self._async_train:
            self._flush_futures()
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)
        self.stopped = bool(self.model.stop_training)
        if self.stopped:
            self.last = True  # the run ends here: its callbacks hear on_train_end
        if not self.last:
            self.model.stop_training = True  # this fit's one epoch is done; the next fit goes on


def fit_candidate(
    space: SearchSpace,
    candidate: Candidate,
    data: Dataset,
    *,
    max_epochs: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: bool = False,
    initial_epoch: int = 0,
    model: keras.Model | None = None,
    first_epoch_images: int | None = None,
    subset_seed: int = 0,
) -> TrainResult:
    """Train ``candidate`` on the training split, validating on the validation split each epoch.

    With ``first_epoch_images``, the first epoch trains on a class-stratified subset of that many
    training images (drawn with ``subset_seed``) and every later epoch on all of them: the same
    model and optimizer state go on from one to the other (two ``model.fit`` calls that the
    callbacks see as one run: :class:`_OneRun`). Validation is always on the whole split. A run
    resumed at ``initial_epoch`` 1 or later, or of a single epoch, trains on every image.

    Args:
        space: the candidate's family.
        candidate: architecture and training settings.
        data: the data set (its test split is not touched).
        max_epochs: cap on the candidate's own epoch count.
        callbacks: extra Keras callbacks, called after the platform's own.
        verbose: show Keras' per-epoch progress.
        initial_epoch: resume at this epoch (with ``model`` restored from a checkpoint).
        model: an already prepared model (e.g. restored); built fresh when None.
        first_epoch_images: images of the first epoch (None, or all of them or more: every image).
        subset_seed: the seed of the first epoch's subset (a trial's own: the same images again).

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
    """
    epochs = min(candidate.train.epochs, max_epochs)
    if model is None:
        model = prepare_model(space, candidate, data)
    images, batch_size = len(data.y_train), candidate.train.batch_size
    subset = None
    if first_epoch_images is not None and initial_epoch == 0 and epochs > 1 and first_epoch_images < images:
        subset = stratified_subset(data.y_train, first_epoch_images, subset_seed)
    timer, best, nan_guard = EpochTimer(), _BestWeights(), _StopOnNonFinite()
    run = _OneRun(
        [timer, nan_guard, *candidate.train.schedule_callbacks(epochs), best, *callbacks],
        full_steps=math.ceil(images / batch_size),
    )
    validation = batches(data.x_val, data.y_val, data.num_classes, EVAL_BATCH_SIZE, shuffle=False)
    parts = [(subset, 0), (None, 1)] if subset is not None else [(None, initial_epoch)]
    history: dict[str, list[float]] = {}
    start = time.perf_counter()
    for i, (indices, first) in enumerate(parts):
        run.last = i == len(parts) - 1
        fitted = model.fit(
            batches(data.x_train, data.y_train, data.num_classes, batch_size, shuffle=True, indices=indices),
            shuffle=False,  # the pipeline reshuffles every epoch
            epochs=epochs,
            initial_epoch=first,
            validation_data=validation,
            callbacks=[run],
            verbose=2 if verbose else 0,
        )
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
        if run.stopped:
            break
    seconds = time.perf_counter() - start
    if nan_guard.bad_epoch is not None:
        raise NonFiniteLossError(f"loss became non-finite in epoch {nan_guard.bad_epoch + 1}")
    if best.weights is not None:
        model.set_weights(best.weights)
    epochs_run = len(timer.seconds)
    stopped_early = initial_epoch + epochs_run < epochs
    seen = images * epochs_run - (images - len(subset) if subset is not None and epochs_run else 0)
    return TrainResult(
        history=history,
        val_accuracy=best.best,
        best_epoch=best.best_epoch,
        epochs_run=epochs_run,
        train_seconds=seconds,
        seconds_per_epoch=_full_pace(
            timer, stopped_early=stopped_early, first_share=len(subset) / images if subset is not None else None
        )
        or seconds,
        param_count=int(model.count_params()),
        images_per_second=seen / max(seconds, 1e-9),
        model=float32_copy(model),  # trained in a mixed policy, kept and evaluated in float32
        first_epoch_images=len(subset) if subset is not None else None,
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


def fit_final(
    space: SearchSpace,
    candidate: Candidate,
    data: Dataset,
    *,
    epochs: int,
    schedule_epochs: int,
    deadline: float | None = None,
    verbose: bool = False,
    jit: bool = False,
    clock: Clock = WALL_CLOCK,
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
        deadline: stop after the batch during which this time passes (``end``, on ``clock``),
            unless it was the run's last.
        verbose: show Keras' per-epoch progress.
        jit: compile the training step with XLA.
        clock: where ``deadline``'s time comes from (default: the wall clock).

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
    stop = StopAt(deadline, clock, keep_last_batch=True) if deadline is not None else None
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
        model=float32_copy(model),
    )
