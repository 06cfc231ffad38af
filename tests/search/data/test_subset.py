"""The first epoch's subset: every class in proportion, exactly the size asked, the same per seed."""

from __future__ import annotations

import numpy as np
import pytest

from search.data import batches, stratified_subset


def _labels() -> np.ndarray:
    # unbalanced classes: 600, 300 and 100 images, interleaved
    return np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [600, 300, 100]))


def test_every_class_keeps_its_share_and_the_size_is_exact() -> None:
    y = _labels()
    subset = stratified_subset(y, 250, seed=1)
    assert len(subset) == 250 and len(np.unique(subset)) == 250 and np.all(np.diff(subset) > 0)
    assert np.bincount(y[subset], minlength=3).tolist() == [150, 75, 25]


def test_the_remainders_still_add_up_and_a_rare_class_is_never_dropped() -> None:
    y = np.repeat([0, 1, 2], [998, 1, 1])
    subset = stratified_subset(y, 10, seed=0)
    counts = np.bincount(y[subset], minlength=3)
    assert counts.sum() == 10 and counts[1] == 1 and counts[2] == 1  # each class at least once
    y = _labels()
    assert len(stratified_subset(y, 333, seed=0)) == 333  # shares 199.8, 99.9, 33.3


def test_the_same_seed_draws_the_same_images_and_another_seed_others() -> None:
    y = _labels()
    assert np.array_equal(stratified_subset(y, 250, seed=7), stratified_subset(y, 250, seed=7))
    assert not np.array_equal(stratified_subset(y, 250, seed=7), stratified_subset(y, 250, seed=8))


@pytest.mark.parametrize("size", [0, 1001])
def test_a_size_outside_the_images_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="a subset of"):
        stratified_subset(_labels(), size, seed=0)


def test_batches_over_indices_hold_those_images_once_per_epoch() -> None:
    x = np.repeat(np.arange(50, dtype=np.float32), 4).reshape(50, 2, 2, 1)  # image i holds the value i
    y = np.arange(50, dtype=np.int64) % 10
    indices = np.array([3, 7, 11, 20, 41])
    dataset = batches(x, y, 10, 2, shuffle=True, seed=0, indices=indices)
    assert int(dataset.cardinality()) == 3
    for _ in range(2):
        seen, labels = [], []
        for images, onehot in dataset:
            seen += [int(v) for v in images.numpy()[:, 0, 0, 0]]
            labels += [int(v) for v in np.argmax(onehot.numpy(), axis=1)]
        assert sorted(seen) == indices.tolist() and labels == [i % 10 for i in seen]
    with pytest.raises(ValueError, match="indices outside"):
        batches(x, y, 10, 2, shuffle=False, indices=np.array([50]))
