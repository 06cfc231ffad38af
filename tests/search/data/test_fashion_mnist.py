"""``load_dataset("fashion_mnist")`` on the real data set, from the ``keras_home`` copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from search.data import DATASETS, Dataset, load_dataset, one_hot

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _rows(x: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in x}


def test_full_data_set_shapes_types_and_ranges(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist")
    assert (
        data.summary() == "fashion_mnist: 54000 train / 6000 val / 10000 test, 28x28x1, 10 classes"
    )
    assert data.name == "fashion_mnist" and "fashion_mnist" in DATASETS
    assert data.class_names == FASHION_CLASSES
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    assert data.x_train.shape == (54000, 28, 28, 1) and data.y_train.shape == (54000,)
    assert data.x_val.shape == (6000, 28, 28, 1) and data.y_val.shape == (6000,)
    assert data.x_test.shape == (10000, 28, 28, 1) and data.y_test.shape == (10000,)
    for x, y in (
        (data.x_train, data.y_train),
        (data.x_val, data.y_val),
        (data.x_test, data.y_test),
    ):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
        assert np.bincount(y, minlength=10).min() > 0 and int(y.max()) == 9
        assert not x.flags.writeable and not y.flags.writeable
    # Pixels are the original bytes divided by 255.
    sample = data.x_train[:1000] * 255
    assert np.allclose(sample, np.round(sample), atol=1e-3)


def test_validation_is_a_stratified_disjoint_part_of_train(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist")
    assert np.bincount(data.y_val).tolist() == [600] * 10
    assert np.bincount(data.y_train).tolist() == [5400] * 10
    # The 60000 training images of Fashion-MNIST are all different, so images identify them.
    train, val = _rows(data.x_train), _rows(data.x_val)
    assert not train & val
    assert len(train | val) == 60000


def test_limit_takes_a_stratified_subset_before_the_validation_split(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist", val_fraction=0.25, limit=2000, seed=3)
    assert data.summary() == "fashion_mnist: 1500 train / 500 val / 2000 test, 28x28x1, 10 classes"
    assert np.bincount(data.y_train).tolist() == [150] * 10
    assert np.bincount(data.y_val).tolist() == [50] * 10
    assert np.bincount(data.y_test).tolist() == [200] * 10
    assert not _rows(data.x_train) & _rows(data.x_val)
    full = load_dataset("fashion_mnist")
    assert _rows(data.x_train) | _rows(data.x_val) <= _rows(full.x_train) | _rows(full.x_val)
    assert _rows(data.x_test) <= _rows(full.x_test)


def test_seed_chooses_the_split(keras_home: Path) -> None:
    first = load_dataset("fashion_mnist", limit=500, seed=1)
    again = load_dataset("fashion_mnist", limit=500, seed=1)
    other = load_dataset("fashion_mnist", limit=500, seed=2)
    assert again is first
    assert _rows(first.x_val) != _rows(other.x_val)


def test_second_call_is_cached_and_reads_no_file(
    keras_home: Path, forbid_reads: Callable[[], None]
) -> None:
    first = load_dataset("fashion_mnist", limit=1000, seed=7)
    forbid_reads()
    assert load_dataset("fashion_mnist", limit=1000, seed=7) is first
    # Other split arguments reuse the decoded arrays: still no file is read.
    other = load_dataset("fashion_mnist", limit=600, seed=7)
    assert other is not first and len(other.y_train) == 540


def test_one_hot() -> None:
    encoded = one_hot(np.array([2, 0, 1], dtype=np.int64), 4)
    assert encoded.dtype == np.float32
    assert encoded.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert one_hot(np.array([[1], [0]]), 2).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match="class indices"):
        one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="integer"):
        one_hot(np.array([0.5]), 3)


def test_dataset_checks_its_parts() -> None:
    x, y = np.zeros((4, 2, 2, 1), np.float32), np.zeros(4, np.int64)
    data = Dataset("d", ("a", "b"), x, y, x[:2], y[:2], x[:1], y[:1])
    assert data.summary() == "d: 4 train / 2 val / 1 test, 2x2x1, 2 classes"
    assert "x_train" not in repr(data)
    with pytest.raises(ValueError, match="y_val"):
        Dataset("d", ("a", "b"), x, y, x[:2], y[:3], x[:1], y[:1])
    with pytest.raises(ValueError, match="x_test"):
        Dataset("d", ("a", "b"), x, y, x[:2], y[:2], np.zeros((1, 3, 2, 1), np.float32), y[:1])
