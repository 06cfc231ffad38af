"""The input pipeline: every image once per epoch, reshuffled, labels kept with their images, no autotuner."""

from __future__ import annotations

import numpy as np
import pytest

from search.data import batches
from search.data._pipeline import _tensor


def _images(n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    # image i holds the value i everywhere, its label is i % 10: a batch shows which images it holds
    x = np.repeat(np.arange(n, dtype=np.float32), 4).reshape(n, 2, 2, 1)
    return x, np.arange(n, dtype=np.int64) % 10


def _epoch(dataset) -> tuple[list[int], list[int]]:  # type: ignore[no-untyped-def]
    order, labels = [], []
    for x, y in dataset:
        order += [int(v) for v in x.numpy()[:, 0, 0, 0]]
        labels += [int(v) for v in np.argmax(y.numpy(), axis=1)]
    return order, labels


def test_each_epoch_holds_every_image_once_in_a_new_order() -> None:
    x, y = _images()
    dataset = batches(x, y, 10, 16, shuffle=True, seed=3)
    first, labels = _epoch(dataset)
    second, _ = _epoch(dataset)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second  # reshuffled at every epoch
    assert labels == [i % 10 for i in first]  # each image keeps its label
    assert int(dataset.cardinality()) == 4  # 3 batches of 16 and the last 2: Keras counts the steps


def test_evaluation_keeps_the_order_and_one_hot_width() -> None:
    x, y = _images(20)
    dataset = batches(x, y, 12, 8, shuffle=False)
    order, labels = _epoch(dataset)
    assert order == list(range(20)) and labels == list(y)
    assert next(iter(dataset))[1].shape == (8, 12)


def test_tf_data_autotuner_is_off() -> None:
    # with it on, tf.data re-tunes at every epoch and slowed one epoch in two by 70% on 2 cores
    x, y = _images()
    assert batches(x, y, 10, 16, shuffle=True).options().autotune.enabled is False


def test_an_array_becomes_a_tensor_once() -> None:
    x, _ = _images()
    assert _tensor(x) is _tensor(x)
    assert _tensor(x.copy()) is not _tensor(x)


def test_labels_must_match_images() -> None:
    x, y = _images()
    with pytest.raises(ValueError, match="50 images but 49 labels"):
        batches(x, y[:-1], 10, 16, shuffle=False)
