"""The training loop's guards, on real tiny models and data."""

from __future__ import annotations

import time

import keras
import numpy as np
import optuna
import pytest

from search._training import TrialTimeBudget


def _tiny_fit(budget: TrialTimeBudget, epochs: int) -> float:
    rng = np.random.default_rng(0)
    x = rng.random((2048, 28, 28, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, 2048), 10)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile("adam", "categorical_crossentropy")
    start = time.perf_counter()
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[budget])
    return time.perf_counter() - start


def test_trial_projected_over_its_budget_stops_at_once() -> None:
    budget = TrialTimeBudget(seconds=30, measure_seconds=0.3)
    start = time.perf_counter()
    with pytest.raises(optuna.TrialPruned, match="projected to train .*s, over the per-trial time budget of 30s"):
        _tiny_fit(budget, epochs=500)  # 500 epochs of 256 batches: hours on any machine
    assert time.perf_counter() - start < 15  # long before the 30 s are spent
    assert budget.exceeded


def test_trial_within_its_budget_is_left_alone() -> None:
    budget = TrialTimeBudget(seconds=120, measure_seconds=0.3)
    assert _tiny_fit(budget, epochs=1) < 120
    assert not budget.exceeded
