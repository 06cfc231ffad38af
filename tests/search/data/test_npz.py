"""A user's ``.npz`` data set: image layouts, value ranges, label encodings and mistakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.data import DataError, load_dataset


def _indexed_images(count: int, shape: tuple[int, ...], offset: int = 0) -> np.ndarray:
    """uint8 images whose first two pixels spell their index, so each one is unique."""
    images = np.zeros((count, *shape), dtype=np.uint8)
    flat = images.reshape(count, -1)
    index = np.arange(offset, offset + count)
    flat[:, 0], flat[:, 1] = index // 256, index % 256
    return images


def _index(x: np.ndarray) -> np.ndarray:
    """The indices ``_indexed_images`` wrote into float images."""
    pixels = np.round(x.reshape(len(x), -1)[:, :2] * 255).astype(np.int64)
    return pixels[:, 0] * 256 + pixels[:, 1]


def _labels(count: int, classes: int) -> np.ndarray:
    return np.arange(count) % classes


def _save(path: Path, **arrays: Any) -> str:
    np.savez(path, **arrays)
    return str(path)


def test_uint8_grayscale_images_with_class_indices(tmp_path: Path) -> None:
    x_train, x_test = _indexed_images(60, (8, 6)), _indexed_images(15, (8, 6), offset=1000)
    x_train[0, -1, -1] = 255
    name = _save(
        tmp_path / "digits.npz",
        x_train=x_train,
        y_train=_labels(60, 3).astype(np.uint8),
        x_test=x_test,
        y_test=_labels(15, 3).reshape(-1, 1),
    )
    data = load_dataset(name, val_fraction=0.2)
    assert data.summary() == f"{name}: 48 train / 12 val / 15 test, 8x6x1, 3 classes"
    assert data.class_names == ("0", "1", "2")
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert float(data.x_train.max()) <= 1.0 and float(data.x_train.min()) >= 0.0
    assert np.bincount(data.y_val).tolist() == [4, 4, 4]
    # Every training image lands in exactly one of train and val, with its label and pixels.
    train, val = _index(data.x_train), _index(data.x_val)
    assert sorted([*train, *val]) == list(range(60))
    assert (data.y_train == train % 3).all() and (data.y_val == val % 3).all()
    assert 1.0 in data.x_train or 1.0 in data.x_val


def test_float_color_images_with_one_hot_labels_and_class_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x_train = rng.random((40, 5, 5, 3), dtype=np.float32)
    x_test = rng.random((10, 5, 5, 3)).astype(np.float64)
    name = _save(
        tmp_path / "colors.npz",
        x_train=x_train,
        y_train=np.eye(4, dtype=np.float32)[_labels(40, 4)],
        x_test=x_test,
        y_test=np.eye(4, dtype=np.uint8)[_labels(10, 4)],
        class_names=np.array(["red", "green", "blue", "gray"]),
    )
    data = load_dataset(name, val_fraction=0.2, seed=5)
    assert data.input_shape == (5, 5, 3) and data.num_classes == 4
    assert data.class_names == ("red", "green", "blue", "gray")
    assert data.x_test.dtype == np.float32
    assert np.allclose(np.sort(data.x_test.ravel()), np.sort(x_test.ravel()))
    assert np.bincount(data.y_val).tolist() == [2, 2, 2, 2]
    assert data.y_test.tolist() == _labels(10, 4).tolist()


def test_second_call_is_cached_and_reads_no_file(
    tmp_path: Path, forbid_reads: Callable[[], None]
) -> None:
    name = _save(
        tmp_path / "small.npz",
        x_train=_indexed_images(20, (4, 4)),
        y_train=_labels(20, 2),
        x_test=_indexed_images(6, (4, 4)),
        y_test=_labels(6, 2),
    )
    first = load_dataset(name)
    forbid_reads()
    assert load_dataset(name) is first
    assert load_dataset(name, seed=1) is not first


GOOD: dict[str, Any] = {
    "x_train": np.zeros((20, 4, 4), np.uint8),
    "y_train": np.arange(20) % 2,
    "x_test": np.zeros((6, 4, 4), np.uint8),
    "y_test": np.arange(6) % 2,
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"x_test": None}, "lacks the array(s) x_test"),
        ({"x_train": np.full((20, 4, 4), 2.0, np.float32)}, "float images must be in [0, 1]"),
        ({"x_train": np.full((20, 4, 4), 300, np.int32)}, "integer images must be in 0..255"),
        ({"x_train": np.zeros((20, 16), np.uint8)}, "images must be (n, height, width)"),
        ({"x_test": np.zeros((6, 5, 4), np.uint8)}, "x_test images (5, 4, 1)"),
        ({"y_train": np.arange(19) % 2}, "y_train has 19 labels for 20 images"),
        ({"y_train": np.full((20, 3), 0.5)}, "not one-hot"),
        ({"y_test": -(np.arange(6) % 2)}, "negative"),
        ({"y_train": np.arange(20) * 0.5}, "non-integer"),
        ({"class_names": np.array(["only one"])}, "class_names must list at least 2 names"),
    ],
)
def test_mistakes_in_the_file_are_one_line_errors(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    arrays = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    name = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as error:
        load_dataset(name)
    message = str(error.value)
    assert expected in message and name in message and "\n" not in message


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive at all")
    with pytest.raises(DataError, match=r"cannot read .*garbage\.npz"):
        load_dataset(str(garbage))
    text = tmp_path / "data.csv"
    text.write_text("1,2,3\n")
    with pytest.raises(DataError, match=r"is not a \.npz file"):
        load_dataset(str(text))
    with pytest.raises(DataError, match="unknown data set 'no_such_thing'"):
        load_dataset("no_such_thing")
