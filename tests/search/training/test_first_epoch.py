"""A trial's first epoch on a stratified subset of the training images, the later ones on all.

The same model goes on from the subset to every image (weights and optimizer state), the callbacks
see one run, and what is recorded about the pace is that of an epoch on every image.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np
import pytest

from search.data import Dataset, dataset_from_arrays
from search.training import (
    FIRST_EPOCH_MIN_IMAGES,
    TOO_SLOW,
    OverBudget,
    TrialTimeBudget,
    first_epoch_images,
    prepare_model,
)
from search.training import _fit as _training
from spaces import Candidate, get_space

TRAIN = 12_000  # training images: above twice the minimum, so the first epoch gets a subset
BATCH = 256


@pytest.fixture(scope="module")
def data() -> Dataset:
    rng = np.random.default_rng(0)
    n = TRAIN + TRAIN // 9  # the validation split takes a tenth
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = rng.permutation(np.repeat(np.arange(10), [n // 10 + (i < n % 10) for i in range(10)]))
    return dataset_from_arrays(x, y, x[:50], y[:50], val_fraction=0.1)


def _candidate(epochs: int = 3) -> tuple[Any, Candidate]:
    space = get_space("lenet")
    return space, space.from_params({**space.presets["doc000_lenet5"].params, "epochs": epochs, "batch_size": BATCH})


class _Watch(keras.callbacks.Callback):
    """Each epoch's batches, params, weights and optimizer step at its start and end; the run's begin/end."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.params_seen: list[dict[str, Any]] = []
        self.start_weights: list[list[np.ndarray]] = []
        self.end_weights: list[list[np.ndarray]] = []
        self.start_steps: list[int] = []
        self.begins = self.ends = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.begins += 1

    def on_train_end(self, logs: dict | None = None) -> None:
        self.ends += 1

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.batches.append(0)
        self.params_seen.append(dict(self.params))
        self.start_weights.append(self.model.get_weights())
        self.start_steps.append(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batches[-1] += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.end_weights.append(self.model.get_weights())


@pytest.fixture
def subsets(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray | None]:
    """The ``indices`` each training pipeline of fit_candidate was built on (None: every image)."""
    seen: list[np.ndarray | None] = []
    real = _training.batches

    def spy(x: np.ndarray, y: np.ndarray, *args: Any, indices: np.ndarray | None = None, **kwargs: Any) -> Any:
        if kwargs.get("shuffle"):  # a training pipeline (validation keeps its order)
            seen.append(None if indices is None else np.array(indices))
        return real(x, y, *args, indices=indices, **kwargs)

    monkeypatch.setattr(_training, "batches", spy)
    return seen


def test_the_first_epoch_trains_on_a_stratified_subset_then_every_image(
    data: Dataset, subsets: list[np.ndarray | None]
) -> None:
    space, candidate = _candidate()
    first = first_epoch_images(len(data.y_train), 0.25)
    assert first == FIRST_EPOCH_MIN_IMAGES  # a quarter of 12,000 is below the minimum
    watch = _Watch()
    result = _training.fit_candidate(
        space, candidate, data, max_epochs=3, callbacks=[watch], first_epoch_images=first, subset_seed=5
    )
    assert result.epochs_run == 3 and result.first_epoch_images == first
    full, short = math.ceil(len(data.y_train) / BATCH), math.ceil(first / BATCH)
    assert watch.batches == [short, full, full]
    # the callbacks were told the run's epochs and an epoch's batches on every image
    assert [p["epochs"] for p in watch.params_seen] == [3, 3, 3]
    assert [p["steps"] for p in watch.params_seen] == [short, full, full]
    assert all(p["full_steps"] == full for p in watch.params_seen)
    assert (watch.begins, watch.ends) == (1, 1)  # one run, though two model.fit calls
    # the subset: every class in proportion, then every image
    assert len(subsets) == 2 and subsets[1] is None
    subset = subsets[0]
    assert subset is not None and len(subset) == first == len(np.unique(subset))
    shares = np.bincount(data.y_train[subset], minlength=10) / first
    expected = np.bincount(data.y_train, minlength=10) / len(data.y_train)
    assert np.allclose(shares, expected, atol=1.0 / first + 1e-9)
    # the history holds every epoch once
    assert all(len(v) == 3 for v in result.history.values())
    assert len(result.history["val_accuracy"]) == 3


def test_the_same_model_goes_on_from_the_subset_to_every_image(data: Dataset, subsets: list) -> None:
    space, candidate = _candidate(epochs=2)
    watch = _Watch()
    _training.fit_candidate(space, candidate, data, max_epochs=2, callbacks=[watch], first_epoch_images=5000)
    short = math.ceil(5000 / BATCH)
    # epoch 1 starts from the weights epoch 0 ended with (not re-initialised) ...
    assert all(np.array_equal(a, b) for a, b in zip(watch.end_weights[0], watch.start_weights[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(watch.start_weights[0], watch.end_weights[0], strict=True))
    # ... and the optimizer's step count goes on (Adam's moments and the schedule with it)
    assert watch.start_steps == [0, short]


def test_the_subset_is_the_same_for_the_same_seed(data: Dataset, subsets: list) -> None:
    space, candidate = _candidate(epochs=2)
    for seed in (3, 3, 4):
        _training.fit_candidate(space, candidate, data, max_epochs=2, first_epoch_images=5000, subset_seed=seed)
    firsts = [s for s in subsets if s is not None]
    assert np.array_equal(firsts[0], firsts[1]) and not np.array_equal(firsts[0], firsts[2])


def test_small_data_sets_and_no_fraction_get_no_subset() -> None:
    assert first_epoch_images(1_000, 0.25) is None  # a thousand images: the first epoch is already cheap
    assert first_epoch_images(2 * FIRST_EPOCH_MIN_IMAGES - 1, 0.25) is None
    assert first_epoch_images(48_000, None) is None and first_epoch_images(48_000, 1.0) is None
    assert first_epoch_images(48_000, 0.25) == 12_000
    assert first_epoch_images(48_000, 0.01) == FIRST_EPOCH_MIN_IMAGES
    assert first_epoch_images(12_000, 0.99) == 11_880


def test_a_resumed_trial_trains_on_every_image(data: Dataset, subsets: list) -> None:
    space, candidate = _candidate(epochs=3)
    model = prepare_model(space, candidate, data)
    watch = _Watch()
    result = _training.fit_candidate(
        space, candidate, data, max_epochs=3, callbacks=[watch], model=model, initial_epoch=1, first_epoch_images=5000
    )
    full = math.ceil(len(data.y_train) / BATCH)
    assert subsets == [None] and result.first_epoch_images is None
    assert watch.batches == [full, full] and result.epochs_run == 2


def test_a_single_epoch_run_trains_on_every_image(data: Dataset, subsets: list) -> None:
    space, candidate = _candidate(epochs=1)
    result = _training.fit_candidate(space, candidate, data, max_epochs=1, first_epoch_images=5000)
    assert subsets == [None] and result.first_epoch_images is None


def test_the_recorded_pace_is_that_of_an_epoch_on_every_image(data: Dataset, subsets: list) -> None:
    space, candidate = _candidate(epochs=3)
    result = _training.fit_candidate(space, candidate, data, max_epochs=3, first_epoch_images=5000)
    seconds = result.history["epoch_seconds"]
    assert result.seconds_per_epoch == pytest.approx(sum(seconds[1:]) / 2)  # the short first epoch left out
    images = 5000 + 2 * len(data.y_train)  # what was trained on, not 3 epochs of every image
    assert result.images_per_second == pytest.approx(images / result.train_seconds)


def test_a_short_first_epoch_alone_is_scaled_to_every_image() -> None:
    timer = _training.EpochTimer()
    timer.seconds, timer.train_seconds = [3.0], [2.0]  # 2 s of training on a quarter, 1 s of validation
    assert _training._full_pace(timer, stopped_early=True, first_share=0.25) == pytest.approx(2.0 * 4 + 1.0)
    timer.seconds, timer.train_seconds = [3.0, 5.0], [2.0, 4.0]  # epoch 1 cut short by the time budget
    assert _training._full_pace(timer, stopped_early=True, first_share=0.25) == pytest.approx(9.0)
    timer.seconds, timer.train_seconds = [3.0, 9.5, 9.7], [2.0, 8.0, 8.0]
    assert _training._full_pace(timer, stopped_early=False, first_share=0.25) == pytest.approx(9.6)


def test_a_stop_in_the_first_epoch_ends_the_run(data: Dataset, subsets: list) -> None:
    class _StopNow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.model.stop_training = True

    space, candidate = _candidate(epochs=3)
    watch = _Watch()
    result = _training.fit_candidate(
        space, candidate, data, max_epochs=3, callbacks=[_StopNow(), watch], first_epoch_images=5000
    )
    assert result.epochs_run == 1 and watch.batches == [1] and len(subsets) == 1
    assert (watch.begins, watch.ends) == (1, 1)


def _budget(steps: int, full_steps: int | None, left: float) -> TrialTimeBudget:
    """A time budget in the first epoch of a run of 5 epochs, its first rung at 2, ``left`` s to go."""
    budget = TrialTimeBudget(deadline=time.monotonic() + left, first_rung=2, measure_seconds=0.5)
    params: dict[str, Any] = {"epochs": 5, "steps": steps}
    if full_steps is not None:
        params["full_steps"] = full_steps
    budget.set_params(params)
    budget.on_train_begin()
    budget.on_epoch_begin(0)
    return budget


def test_the_time_budget_projects_a_short_first_epoch_then_whole_ones() -> None:
    # 1 s a batch, measured over batch 2 to 3; the first epoch holds 10 batches, the later 100:
    # to its first rung 6 batches of this epoch and 100 of the next, 106 s
    budget = _budget(10, 100, left=120.0)
    now = time.perf_counter()
    budget._project(2, now)
    budget._project(3, now + 1.0)
    assert budget.seconds_per_epoch == pytest.approx(100.0)  # the pace of an epoch on every image
    budget = _budget(10, 100, left=100.0)
    budget._project(2, now)
    with pytest.raises(OverBudget, match=rf"^{TOO_SLOW}: about 100 s per epoch; projected to reach its first rung \(epoch 2\)"):
        budget._project(3, now + 1.0)
    budget = _budget(10, None, left=20.0)  # all epochs of 10 batches: 16 s
    budget._project(2, now)
    budget._project(3, now + 1.0)
    assert budget.seconds_per_epoch == pytest.approx(10.0)


def test_the_pace_is_measured_again_in_the_next_epoch_when_the_first_was_too_short() -> None:
    budget = _budget(4, 100, left=1e6)
    now = time.perf_counter()
    budget._project(2, now)  # the pace's start in epoch 0, which then ends before it is measured
    budget.on_epoch_end(0, {})
    budget.on_epoch_begin(1)
    budget._project(2, now + 30.0)  # epoch 1, after validation: a new start, not 30 s for 0 batches
    budget._project(4, now + 32.0)
    assert budget.seconds_per_epoch == pytest.approx(100.0)
