"""The invocation's time budget: the search ends early enough to leave the refit its time."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.core import SearchClock, VirtualClock
from search.data import load_dataset
from search.trials import Objective, ObserverGroup
from spaces import get_space


def test_the_reserve_moves_the_search_end_forward() -> None:
    reserve = [30.0]
    clock = SearchClock(100.0, reserve=lambda: reserve[0])
    assert clock.end == pytest.approx(clock.started + 100.0)
    assert clock.search_end() == pytest.approx(clock.started + 70.0)
    assert not clock.search_over()
    reserve[0] = 100.0  # a new best trial whose refit takes the whole budget
    assert clock.search_over()


def test_without_a_timeout_the_search_never_ends() -> None:
    clock = SearchClock(None, reserve=lambda: 1e9)
    assert clock.end is None and clock.search_end() is None and not clock.search_over()


class _TickingClock(VirtualClock):
    """Virtual time that passes as a trial trains: every reading moves it on by a second (the
    time budget reads it a few times a batch), however loaded the machine is."""

    def now(self) -> float:
        return self.advance(1.0)


def test_a_trial_still_training_at_the_search_end_stops_there(keras_home: Path, tmp_path: Path) -> None:
    space = get_space("lenet")
    clock = _TickingClock()
    start = clock.time
    objective = Objective(
        space=space,
        data=load_dataset("fashion_mnist", limit=1000, seed=5),
        max_epochs=150,
        observers=ObserverGroup([]),
        prune=False,
        trial_seconds=600.0,  # its own budget is far away: only the search end can stop it
        search_end=lambda: start + 300.0,  # a few epochs of readings
        clock=clock,
    )
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db", direction="maximize")
    study.enqueue_trial({**space.presets["doc000_lenet5"].params, "epochs": 150})
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.user_attrs["stopped_by_time_budget"] is True
    assert 1 <= trial.user_attrs["epochs_run"] < 150


def test_no_trial_starts_when_even_the_fastest_first_rung_would_not_fit() -> None:
    fastest = [10.0]
    clock = SearchClock(100.0, reserve=lambda: 30.0, shortest_trial=lambda: fastest[0])
    assert not clock.search_over()  # 70 s of search left, 10 s for the quickest first rung
    fastest[0] = 80.0  # every trial measured needs more than is left
    assert clock.search_over()
    assert clock.search_end() == pytest.approx(clock.started + 70.0)  # a trial already running may go on


def test_a_search_clock_runs_entirely_on_a_virtual_clock() -> None:
    virtual = VirtualClock(time=50.0)
    reserve = [30.0]
    clock = SearchClock(100.0, reserve=lambda: reserve[0], clock=virtual)
    assert clock.started == 50.0 and clock.end == 150.0 and clock.search_end() == 120.0
    virtual.advance(69.0)
    assert clock.now() == 119.0 and not clock.search_over()
    virtual.advance(1.0)
    assert clock.search_over()  # at search_end: no trial starts
    reserve[0] = 0.0  # the best trial's refit no longer needs time
    assert not clock.search_over()
    assert SearchClock(100.0, started=7.0, clock=virtual).end == 107.0  # a parent's start, on the same clock
