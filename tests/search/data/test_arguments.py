"""Out-of-range ``val_fraction`` and ``limit`` and too-small classes give one-line DataErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.data import DataError, load_dataset


@pytest.mark.parametrize("val_fraction", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), True, "0.1"])
def test_val_fraction_outside_0_1_is_refused_before_reading(
    val_fraction: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))  # nothing to read there
    with pytest.raises(DataError, match="val_fraction must be"):
        load_dataset("fashion_mnist", val_fraction=val_fraction)
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(19, "at least 20"), (0, "at least 20"), (-5, "too small"), (2.5, "whole"), (True, "whole")],
)
def test_limit_below_two_per_class_is_refused(keras_home: Path, limit: Any, expected: str) -> None:
    with pytest.raises(DataError, match=expected) as error:
        load_dataset("fashion_mnist", limit=limit)
    assert str(error.value).startswith("fashion_mnist: limit")


def test_smallest_limit_works(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist", limit=20, val_fraction=0.5)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (10, 10, 20)
    assert sorted(data.y_val.tolist()) == list(range(10))


def test_limit_between_the_test_and_train_sizes(tmp_path: Path) -> None:
    path = tmp_path / "sizes.npz"
    np.savez(
        path,
        x_train=np.zeros((40, 2, 2), np.uint8),
        y_train=np.arange(40) % 4,
        x_test=np.zeros((30, 2, 2), np.uint8),
        y_test=np.arange(30) % 4,
    )
    data = load_dataset(str(path), limit=100, val_fraction=0.25)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (30, 10, 30)
    data = load_dataset(str(path), limit=35, val_fraction=0.2)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (28, 7, 30)
    # 29 of 30 test images leave too few out to stratify: a plain random subset is taken.
    assert len(load_dataset(str(path), limit=29, val_fraction=0.2).y_test) == 29


def test_validation_smaller_than_the_number_of_classes(keras_home: Path) -> None:
    with pytest.raises(DataError) as error:
        load_dataset("fashion_mnist", limit=20, val_fraction=0.1)
    message = str(error.value)
    assert "cannot hold out a validation set" in message and "10 classes" in message
    assert "\n" not in message


def test_class_with_a_single_image(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    y_train = np.array([0] * 10 + [1] * 10 + [2])
    np.savez(
        path,
        x_train=np.zeros((21, 3, 3), np.uint8),
        y_train=y_train,
        x_test=np.zeros((3, 3, 3), np.uint8),
        y_test=np.arange(3),
    )
    with pytest.raises(DataError, match="every class needs at least 2 images") as error:
        load_dataset(str(path), val_fraction=0.3)
    assert str(error.value).startswith(f"{path}: cannot hold out a validation set")


def test_error_messages_are_one_line() -> None:
    assert str(DataError("first\nsecond \r\n third")) == "first second third"
