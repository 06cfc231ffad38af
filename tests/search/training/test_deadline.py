"""The one deadline callback, on a virtual clock: training stops after the batch during which the
deadline passes, and a deadline passing in the run's last batch stops nothing when asked so."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from search.core import VirtualClock
from search.training import StopAt


class _Tick(keras.callbacks.Callback):
    """Moves the virtual clock on by ``seconds`` after every batch, as training would."""

    def __init__(self, clock: VirtualClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds, self.batches = clock, seconds, 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.clock.advance(self.seconds)
        self.batches += 1


def _fit(stop: StopAt, tick: _Tick, epochs: int = 3) -> None:
    """A tiny real model: 4 batches an epoch; ``tick`` runs before ``stop`` on every batch."""
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(rng.random((32, 2)), rng.random((32, 1)), batch_size=8, epochs=epochs, verbose=0, callbacks=[tick, stop])


@pytest.mark.parametrize(("deadline", "batches"), [(2.5, 3), (3.0, 3), (6.0, 6), (100.0, 12)])
def test_training_stops_after_the_batch_during_which_the_virtual_deadline_passes(deadline: float, batches: int) -> None:
    clock = VirtualClock()
    stop, tick = StopAt(deadline, clock), _Tick(clock, 1.0)  # one second a batch
    _fit(stop, tick)
    assert tick.batches == batches
    assert stop.stopped is (batches < 12)


def test_a_deadline_passing_during_the_last_batch_of_the_run_stops_nothing_when_the_last_batch_is_kept() -> None:
    clock = VirtualClock()
    kept, tick = StopAt(12.0, clock, keep_last_batch=True), _Tick(clock, 1.0)
    _fit(kept, tick)
    assert tick.batches == 12 and not kept.stopped  # the run finished: the refit counts as done
    clock = VirtualClock()
    cut, tick = StopAt(12.0, clock), _Tick(clock, 1.0)
    _fit(cut, tick)
    assert tick.batches == 12 and cut.stopped


def test_no_deadline_never_stops() -> None:
    stop = StopAt(None, VirtualClock(time=1e12))
    assert not stop.passed() and stop.left() is None
