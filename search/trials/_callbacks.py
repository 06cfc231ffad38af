"""The Keras callbacks that connect a trial's training to Optuna and to the observers."""

from __future__ import annotations

from typing import Any

import keras
import optuna
from optuna_integration import KerasPruningCallback

from search.trials._observers import ObserverGroup

__all__ = ["EpochForwarder", "PruneBeforeLastEpoch"]


class PruneBeforeLastEpoch(KerasPruningCallback):
    """optuna-integration's pruning callback, except after a trial's last planned epoch.

    A trial that has trained all its epochs holds a finished model: its last value is reported, but
    the pruner is not asked, so a rung that falls on the last epoch (successive halving's epoch 10
    of 10) cannot throw away a complete training as "pruned".
    """

    def __init__(self, trial: optuna.trial.Trial, monitor: str) -> None:
        super().__init__(trial, monitor)
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch + 1 < self.params.get("epochs", 0):  # the epochs model.fit was given
            super().on_epoch_end(epoch, logs)
        elif (value := (logs or {}).get(self.monitor)) is not None:
            self.trial.report(float(value), step=epoch)


class EpochForwarder(keras.callbacks.Callback):
    """Forwards every epoch's logs (and every batch's position, for live progress) to the
    observers, and keeps the logs for a pruned trial's record."""

    def __init__(self, trial: optuna.trial.Trial, observers: ObserverGroup) -> None:
        super().__init__()
        self.trial, self.observers = trial, observers
        self.history: dict[str, list[float]] = {}
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps = self.params.get("steps") if self.params else None
        self.observers.on_batch_end(self.trial, self.epoch, batch + 1, int(steps) if steps else None)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        self.observers.on_epoch_end(self.trial, epoch, logs)
