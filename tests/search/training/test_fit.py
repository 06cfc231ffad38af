"""The training loop's guards, on real tiny models and data."""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest

from search.core import VirtualClock
from search.training import TOO_SLOW, OverBudget, StopAt, TrialTimeBudget, prepare_model
from search.training import _fit as _training


class _Count(keras.callbacks.Callback):
    """How far training got: batches and epochs completed."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = self.epochs = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batches += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs += 1


def _tiny_fit(budget: TrialTimeBudget, epochs: int) -> _Count:
    count = _Count()
    _fit_with([budget, count], epochs)
    return count


def _fit_with(callbacks: list[keras.callbacks.Callback], epochs: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((8192, 28, 28, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, 8192), 10)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)


def test_trial_projected_over_its_budget_stops_at_once() -> None:
    budget = TrialTimeBudget(seconds=30, measure_seconds=0.3, first_rung=150)
    count = _Count()
    with pytest.raises(OverBudget, match=r"projected to reach its first rung \(epoch 150\) in .*s \(about .* s per epoch\), over the per-trial time budget of 30s"):
        # 150 epochs of 1,024 batches: far over 30 s on any CPU
        _fit_with([budget, count], epochs=300)
    assert budget.exceeded
    assert count.epochs == 0 and count.batches < 1024  # stopped within its first epoch


def test_trial_within_its_budget_is_left_alone() -> None:
    budget = TrialTimeBudget(seconds=300, measure_seconds=0.3)
    assert _tiny_fit(budget, epochs=1).epochs == 1
    assert not budget.exceeded


def test_trial_out_of_time_after_an_epoch_ends_with_what_it_reached() -> None:
    clock = VirtualClock()  # virtual time: a loaded machine's slow first epoch cannot make it prune
    budget = TrialTimeBudget(seconds=8, measure_seconds=1e9, clock=clock)  # no projection: only the budget
    epochs, batches = _Driven(budget, clock, epochs=1000, steps=5).run(batch_seconds=1.0)
    assert budget.stopped and budget.exceeded is False  # no exception: it has a validation score to give
    assert (epochs, batches) == (2, 9)  # the batch that took it past 8 s was its last


def test_models_of_earlier_trials_are_collected_after_the_heap_is_frozen(
    keras_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process's long-lived objects are frozen before the first model is built, never after:
    a frozen model would outlive its trial, and memory would grow trial after trial."""
    from search.data import load_dataset
    from spaces import get_space

    space = get_space("lenet")
    data = load_dataset("fashion_mnist", limit=200, seed=0)
    candidate = space.from_params(space.presets["doc000_lenet5"].params)
    monkeypatch.setattr(_training, "_frozen", False)  # as in a new process
    first = prepare_model(space, candidate, data)
    assert gc.get_freeze_count() > 0
    gone = weakref.ref(first)
    del first
    prepare_model(space, candidate, data)  # the next trial
    assert gone() is None


def test_final_fit_trains_on_training_and_validation_images(keras_home: Path) -> None:
    from search.data import load_dataset
    from spaces import get_space

    data = load_dataset("fashion_mnist", limit=300, seed=4)
    space = get_space("lenet")
    candidate = space.from_params(space.presets["doc000_lenet5"].params)
    fit = _training.fit_final(space, candidate, data, epochs=2, schedule_epochs=2)
    assert fit.finished and fit.epochs_run == 2
    assert fit.images == len(data.y_train) + len(data.y_val) == 300
    assert len(fit.history["loss"]) == 2 and "val_loss" not in fit.history  # nothing held out


def test_final_fit_stops_at_its_deadline(keras_home: Path) -> None:
    from search.data import load_dataset
    from spaces import get_space

    data = load_dataset("fashion_mnist", limit=300, seed=4)
    space = get_space("lenet")
    candidate = space.from_params(space.presets["doc000_lenet5"].params)
    fit = _training.fit_final(space, candidate, data, epochs=50, schedule_epochs=50, deadline=time.monotonic())
    assert not fit.finished and fit.epochs_run == 1  # one batch, then the deadline


def test_a_deadline_on_the_last_batch_of_the_last_epoch_stops_nothing() -> None:
    stop = StopAt(deadline=0.0, keep_last_batch=True)  # long passed
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.stop_training = False  # as fit sets it
    stop.set_model(model)
    stop.set_params({"epochs": 2, "steps": 3})
    stop.on_epoch_begin(1)
    stop.on_train_batch_end(2)  # the run's last batch: it finished
    assert not stop.stopped and not stop.model.stop_training
    stop.on_train_batch_end(1)
    assert stop.stopped and stop.model.stop_training


def test_the_pace_of_a_trial_cut_short_is_that_of_its_whole_epochs(keras_home: Path) -> None:
    import statistics

    from search.data import load_dataset
    from spaces import get_space

    data = load_dataset("fashion_mnist", limit=6000, seed=4)
    space = get_space("lenet")
    candidate = space.from_params({**space.presets["doc000_lenet5"].params, "epochs": 100, "batch_size": 32})
    first = _training.fit_candidate(space, candidate, data, max_epochs=2)
    per_epoch = first.seconds_per_epoch
    budget = TrialTimeBudget(seconds=per_epoch * 3.5, measure_seconds=1e9)  # stops in the middle of epoch 4 or so
    result = _training.fit_candidate(space, candidate, data, max_epochs=100, callbacks=[budget])
    assert budget.stopped and result.epochs_run < 100
    seconds = result.history["epoch_seconds"]
    assert seconds[-1] < statistics.median(seconds)  # the last epoch was cut short
    # the mean of the whole epochs: the cut one would lower it
    assert result.seconds_per_epoch == pytest.approx(statistics.mean(seconds[:-1]))


def test_trial_that_cannot_reach_its_first_rung_before_the_search_ends_stops_at_once() -> None:
    budget = TrialTimeBudget(deadline=time.monotonic() + 30.0, first_rung=150, measure_seconds=0.3)
    count = _Count()
    with pytest.raises(OverBudget, match=rf"^{TOO_SLOW}: about .* s per epoch; projected to reach its first rung \(epoch 150\)"):
        _fit_with([budget, count], epochs=300)  # 150 epochs of 1,024 batches: far over 30 s on any CPU
    assert count.epochs == 0 and count.batches < 1024
    assert budget.seconds_per_epoch is not None and budget.seconds_per_epoch > 0  # measured from its batches


def _small_fit(budget: TrialTimeBudget, epochs: int) -> _Count:
    rng = np.random.default_rng(1)
    x = rng.random((64, 4), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 2, 64), 2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("adam", "categorical_crossentropy")
    count = _Count()
    model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=[budget, count])
    return count


def test_a_derived_cap_lets_every_trial_reach_its_first_rung_then_stops_one_that_does_not_lead() -> None:
    asked: list[float] = []
    budget = TrialTimeBudget(seconds=0.0, first_rung=2, leads=lambda acc, epochs: asked.append(epochs) or False)
    count = _small_fit(budget, epochs=6)  # its cap ran out at once
    assert count.epochs == 2 and budget.stopped and not budget.exceeded  # its first rung, then no further
    assert asked == [2]  # asked once, after its first rung, whether it goes on


def test_a_derived_cap_never_stops_a_trial_that_leads() -> None:
    budget = TrialTimeBudget(seconds=0.0, first_rung=1, leads=lambda acc, epochs: True)
    assert _small_fit(budget, epochs=5).epochs == 5
    assert not budget.stopped and not budget.exceeded


def test_a_trial_that_leads_starts_no_epoch_that_would_end_past_its_bound() -> None:
    budget = TrialTimeBudget(seconds=0.0, first_rung=2, leads=lambda acc, epochs: True, until=0.0)
    count = _small_fit(budget, epochs=5)
    assert count.epochs == 2 and budget.stopped  # its first rung, then no epoch past the bound


def test_the_search_end_stops_even_a_leading_trial() -> None:
    budget = TrialTimeBudget(seconds=0.0, deadline=time.monotonic() - 1.0, leads=lambda acc, epochs: True)
    with pytest.raises(OverBudget, match="time budget ran out before its first epoch"):
        _small_fit(budget, epochs=5)


class _Driven:
    """A TrialTimeBudget driven by hand on a virtual clock: ``steps`` batches an epoch, each taking
    ``batch_seconds`` virtual seconds, a validation accuracy of 0.5 every epoch."""

    def __init__(self, budget: TrialTimeBudget, clock: VirtualClock, *, epochs: int, steps: int) -> None:
        self.budget, self.clock, self.epochs, self.steps = budget, clock, epochs, steps
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.stop_training = False  # as fit sets it
        budget.set_model(model)
        budget.set_params({"epochs": epochs, "steps": steps})

    def run(self, batch_seconds: float) -> tuple[int, int]:
        """Train until the budget stops it: (epochs ended, batches ended)."""
        batches = epochs_ended = 0
        self.budget.on_train_begin()
        for epoch in range(self.epochs):
            self.budget.on_epoch_begin(epoch)
            for batch in range(self.steps):
                self.clock.advance(batch_seconds)
                self.budget.on_train_batch_end(batch)
                batches += 1
                if self.budget.model.stop_training:
                    break
            self.budget.on_epoch_end(epoch, {"val_accuracy": 0.5})
            epochs_ended += 1
            if self.budget.model.stop_training:
                break
        return epochs_ended, batches


def test_a_trial_time_budget_stops_at_the_virtual_search_end() -> None:
    clock = VirtualClock(time=1000.0)
    budget = TrialTimeBudget(deadline=1025.0, measure_seconds=1e9, clock=clock)  # the search ends in 25 s
    epochs, batches = _Driven(budget, clock, epochs=5, steps=10).run(batch_seconds=1.0)
    assert budget.stopped and not budget.exceeded
    assert (epochs, batches) == (3, 25)  # the batch during which it passed was the last


def test_the_virtual_search_end_before_the_first_epoch_ended_prunes() -> None:
    clock = VirtualClock()
    budget = TrialTimeBudget(deadline=5.0, measure_seconds=1e9, clock=clock)
    with pytest.raises(OverBudget, match="time budget ran out before its first epoch ended"):
        _Driven(budget, clock, epochs=5, steps=10).run(batch_seconds=1.0)


def test_a_trial_too_slow_for_its_first_rung_on_virtual_time_stops_after_measuring_its_pace() -> None:
    clock = VirtualClock()
    budget = TrialTimeBudget(deadline=50.0, first_rung=2, measure_seconds=3.0, clock=clock)
    with pytest.raises(OverBudget, match=rf"^{TOO_SLOW}: about 100 s per epoch; projected to reach its first rung \(epoch 2\)"):
        _Driven(budget, clock, epochs=5, steps=100).run(batch_seconds=1.0)  # 200 s to epoch 2, 50 s left
    assert budget.seconds_per_epoch == pytest.approx(100.0)


@pytest.mark.parametrize(("until", "epochs"), [(25.0, 2), (30.0, 3), (None, 5)])
def test_a_spared_trial_starts_no_epoch_that_would_end_past_its_virtual_bound(until: float | None, epochs: int) -> None:
    """Its cap (10 s) runs out in its first epoch; it is spared (``leads``), until its next epoch
    of 10 s would end past ``until``."""
    clock = VirtualClock()
    budget = TrialTimeBudget(seconds=10.0, measure_seconds=1e9, leads=lambda acc, n: True, until=until, clock=clock)
    assert _Driven(budget, clock, epochs=5, steps=10).run(batch_seconds=1.0)[0] == epochs
    assert budget.stopped is (epochs < 5)
