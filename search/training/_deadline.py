"""The one deadline callback: training stops after the batch during which a deadline passes."""

from __future__ import annotations

from typing import Any

import keras

from search.core import WALL_CLOCK, Clock

__all__ = ["StopAt"]


class StopAt(keras.callbacks.Callback):
    """Stops training after the batch during which ``deadline`` passes (:attr:`stopped`).

    Every clock that bounds a training reads its deadline here: the refit's and a cross-validation
    fold's (``end``, as a callback of their fit) and a trial's search end (``search_end``, asked by
    :class:`~search.training.TrialTimeBudget`, which decides what its passing means for a trial).

    Args:
        deadline: when training must stop, on ``clock`` (None: never).
        clock: where the time comes from (default: the wall clock).
        keep_last_batch: a deadline passing during the run's last batch stops nothing and
            :attr:`stopped` stays False: the run finished (the refit then counts as done).
    """

    def __init__(
        self, deadline: float | None, clock: Clock = WALL_CLOCK, *, keep_last_batch: bool = False
    ) -> None:
        super().__init__()
        self.deadline, self.clock, self.keep_last_batch = deadline, clock, keep_last_batch
        self.stopped = False
        self._epoch = 0

    def passed(self) -> bool:
        """Whether the deadline has come."""
        return self.deadline is not None and self.clock.now() >= self.deadline

    def left(self) -> float | None:
        """Seconds until the deadline (negative once past; None: no deadline)."""
        return None if self.deadline is None else self.deadline - self.clock.now()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.keep_last_batch and self._last(batch):
            return
        if self.passed():
            self.stopped = self.model.stop_training = True

    def _last(self, batch: int) -> bool:
        """``batch`` is the last of the run's last epoch."""
        params = self.params or {}
        epochs, steps = params.get("epochs", 0), params.get("steps", 0)
        return self._epoch == epochs - 1 and batch == steps - 1
