"""A user's data set in one ``.npz`` file: ``x_train``, ``y_train``, ``x_test``, ``y_test``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from search.data._dataset import DataError
from search.data._split import RawData

__all__ = ["raw_from_arrays", "read_npz"]

_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
_LABELS = "labels must be class indices (n,) or one-hot rows (n, classes)"
_HOW = "save it with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"


def _images(path: str | Path, key: str, x: np.ndarray) -> np.ndarray:
    """(n, h, w[, c]) uint8 0..255 or floats in [0, 1] -> (n, h, w, c) uint8 or float32."""
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[0] == 0:
        raise DataError(
            f"{path}: {key} has shape {x.shape}; "
            "images must be (n, height, width) or (n, height, width, channels)"
        )
    if x.dtype.kind in "ui":
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > 255:
            raise DataError(
                f"{path}: {key} holds integers {low}..{high}; integer images must be in 0..255"
            )
        return x.astype(np.uint8, copy=False)
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise DataError(f"{path}: {key} contains NaN or infinite values; {_HOW}")
        low_f, high_f = float(x.min()), float(x.max())
        if low_f < 0.0 or high_f > 1.0:
            raise DataError(
                f"{path}: {key} holds floats {low_f:g}..{high_f:g}; float images must be in [0, 1] "
                "(divide by 255, or store uint8 0..255)"
            )
        return x.astype(np.float32, copy=False)
    raise DataError(
        f"{path}: {key} has dtype {x.dtype}; images must be uint8 0..255 or floats in [0, 1]"
    )


def _labels(path: str | Path, key: str, y: np.ndarray, count: int) -> tuple[np.ndarray, int | None]:
    """Class indices (n,) or one-hot (n, k) -> int64 indices and k (None for indices)."""
    width = None
    if y.ndim == 2 and y.shape[1] > 1:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise DataError(f"{path}: {key} is 2-D but not one-hot; {_LABELS}")
        y, width = np.argmax(y, axis=1), int(y.shape[1])
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "uif":
        raise DataError(f"{path}: {key} has shape {y.shape} and dtype {y.dtype}; {_LABELS}")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError(
            f"{path}: {key} holds non-integer values; labels must be class indices 0, 1, ..."
        )
    if y.size and y.min() < 0:
        raise DataError(
            f"{path}: {key} holds negative values; labels must be class indices 0, 1, ..."
        )
    if len(y) != count:
        raise DataError(f"{path}: {key} has {len(y)} labels for {count} images")
    return y.astype(np.int64), width


def _class_names(
    path: str | Path, names: np.ndarray | None, labels: tuple[np.ndarray, ...], widths: list[int]
) -> tuple[str, ...]:
    if len(set(widths)) > 1:
        raise DataError(
            f"{path}: y_train and y_test are one-hot of different widths {sorted(set(widths))}"
        )
    largest = max(int(y.max()) for y in labels if y.size)
    if names is not None:
        if names.ndim != 1 or len(names) <= largest:
            raise DataError(
                f"{path}: class_names must list at least {largest + 1} names, "
                f"got shape {names.shape}"
            )
        return tuple(str(name) for name in names.tolist())
    count = widths[0] if widths else largest + 1
    return tuple(str(index) for index in range(count))


def read_npz(path: Path) -> RawData:
    """Reads a user's ``.npz`` data set.

    Images are ``(n, h, w)`` or ``(n, h, w, c)``, uint8 0..255 or floats in [0, 1]; labels are class
    indices or one-hot rows. An optional ``class_names`` array of strings names the classes (else
    ``"0"``, ``"1"``, ...).

    Args:
        path: The ``.npz`` file.

    Returns:
        Images with a channel axis (uint8 or float32) and int64 labels.

    Raises:
        DataError: The file cannot be read, lacks an array, or an array has a wrong shape or
            values.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path} holds a single array, not a .npz archive; {_HOW}")
        with loaded:
            missing = [key for key in _ARRAYS if key not in loaded.files]
            if missing:
                raise DataError(f"{path} lacks the array(s) {', '.join(missing)}; {_HOW}")
            arrays = {key: loaded[key] for key in _ARRAYS}
            names = loaded["class_names"] if "class_names" in loaded.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {path}: {' '.join(str(exc).split())}; {_HOW}") from None
    return raw_from_arrays(str(path), arrays, names)


def raw_from_arrays(
    where: str, arrays: dict[str, np.ndarray | None], names: np.ndarray | None = None
) -> RawData:
    """Checks a user's arrays (``x_train``, ``y_train``, optional ``x_test``, ``y_test``) as
    :func:`read_npz` checks a file's.

    Args:
        where: What the arrays are called in error messages (a file's path, or ``"arrays"``).
        arrays: The arrays by name; ``x_test`` and ``y_test`` may be ``None`` together (then a
            stratified share of the training images becomes the test set).
        names: Optional class names, one per class.

    Raises:
        DataError: An array has a wrong shape or values.
    """
    if (arrays.get("x_test") is None) != (arrays.get("y_test") is None):
        raise DataError(f"{where}: give both x_test and y_test, or neither")
    x_train = _images(where, "x_train", arrays["x_train"])
    y_train, train_width = _labels(where, "y_train", arrays["y_train"], len(x_train))
    x_test = y_test = test_width = None
    if arrays.get("x_test") is not None:
        x_test = _images(where, "x_test", arrays["x_test"])
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DataError(
                f"{where}: x_train images are {x_train.shape[1:]}, x_test images {x_test.shape[1:]}"
            )
        y_test, test_width = _labels(where, "y_test", arrays["y_test"], len(x_test))
    labels = tuple(y for y in (y_train, y_test) if y is not None)
    widths = [width for width in (train_width, test_width) if width is not None]
    class_names = _class_names(where, names, labels, widths)
    largest = int(max(y.max() for y in labels))
    if largest >= len(class_names):
        raise DataError(
            f"{where}: labels go up to {largest} but there are {len(class_names)} classes"
        )
    return RawData(class_names, x_train, y_train, x_test, y_test)
