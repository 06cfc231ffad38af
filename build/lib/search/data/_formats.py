"""Readers of the files Keras keeps in its cache: IDX gzip files, ``mnist.npz``, CIFAR batches."""

from __future__ import annotations

import gzip
import math
import pickle
import zlib
from pathlib import Path

import numpy as np

from search.compat import load_cifar_batch
from search.data._dataset import DataError
from search.data._split import RawData

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "read_cifar10",
    "read_fashion_mnist",
    "read_mnist",
]

FASHION_MNIST_CLASSES = (
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
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

_IDX_UBYTE = 0x08
_CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")


def _read_idx(path: Path, ndim: int, hint: str) -> np.ndarray:
    """Reads a gzip-compressed IDX file of unsigned bytes with ``ndim`` dimensions."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc}; {hint}") from None
    header = 4 + 4 * ndim
    if len(data) < header or data[:2] != b"\0\0" or data[2] != _IDX_UBYTE or data[3] != ndim:
        raise DataError(f"{path} is not an IDX file of {ndim}-D unsigned bytes; {hint}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    values = np.frombuffer(data, dtype=np.uint8, offset=header)
    if values.size != math.prod(dims):
        raise DataError(f"{path} holds {values.size} values, its header says {dims}; {hint}")
    return values.reshape(dims)


def read_fashion_mnist(paths: dict[str, Path], hint: str) -> RawData:
    """Reads Fashion-MNIST's four IDX files.

    Args:
        paths: Path of each file, keyed by its name (``train-images-idx3-ubyte.gz`` ...).
        hint: Where good files must go, appended to error messages.

    Returns:
        28x28x1 uint8 images and int64 labels.

    Raises:
        DataError: A file is not a readable IDX file or images and labels disagree.
    """
    arrays = []
    for part in ("train", "t10k"):
        images = _read_idx(paths[f"{part}-images-idx3-ubyte.gz"], 3, hint)
        labels = _read_idx(paths[f"{part}-labels-idx1-ubyte.gz"], 1, hint)
        if len(images) != len(labels):
            raise DataError(
                f"fashion_mnist: {part} has {len(images)} images but {len(labels)} labels; {hint}"
            )
        arrays.append((images[..., np.newaxis], labels.astype(np.int64)))
    (x_train, y_train), (x_test, y_test) = arrays
    return RawData(FASHION_MNIST_CLASSES, x_train, y_train, x_test, y_test)


def read_mnist(path: Path, hint: str) -> RawData:
    """Reads ``mnist.npz`` (arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``, uint8).

    Args:
        path: The file.
        hint: Where a good file must go, appended to error messages.

    Returns:
        HxWx1 uint8 images and int64 labels.

    Raises:
        DataError: The file cannot be read or lacks an array.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            x_train, y_train, x_test, y_test = (
                npz[key] for key in ("x_train", "y_train", "x_test", "y_test")
            )
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {' '.join(str(exc).split())}; {hint}") from None
    if (
        x_train.ndim != 3
        or x_test.ndim != 3
        or y_train.shape != x_train.shape[:1]
        or y_test.shape != x_test.shape[:1]
    ):
        raise DataError(f"{path} does not hold (n, h, w) images with (n,) labels; {hint}")
    return RawData(
        MNIST_CLASSES,
        x_train.astype(np.uint8, copy=False)[..., np.newaxis],
        y_train.astype(np.int64),
        x_test.astype(np.uint8, copy=False)[..., np.newaxis],
        y_test.astype(np.int64),
    )


def _read_cifar_batch(path: Path, hint: str) -> tuple[np.ndarray, np.ndarray]:
    # Keras' own reader: pickled dicts, unpickled with only numpy's array globals allowed.
    if not path.is_file():
        raise DataError(f"cifar10: {path} is missing from the extracted archive; {hint}")
    try:
        data, labels = load_cifar_batch(str(path))
    except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError) as exc:
        raise DataError(f"cannot read {path}: {' '.join(str(exc).split())}; {hint}") from None
    return np.asarray(data, dtype=np.uint8).transpose(0, 2, 3, 1), np.asarray(
        labels, dtype=np.int64
    )


def read_cifar10(extracted: Path, hint: str) -> RawData:
    """Reads the CIFAR-10 batches Keras extracted from ``cifar-10-python.tar.gz``.

    Args:
        extracted: The extraction folder; the batches are in its ``cifar-10-batches-py/``.
        hint: Where a good archive must go, appended to error messages.

    Returns:
        32x32x3 uint8 images and int64 labels.

    Raises:
        DataError: A batch is missing or unreadable.
    """
    folder = extracted / "cifar-10-batches-py"
    train = [_read_cifar_batch(folder / batch, hint) for batch in _CIFAR_BATCHES]
    x_test, y_test = _read_cifar_batch(folder / "test_batch", hint)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return RawData(CIFAR10_CLASSES, x_train, y_train, x_test, y_test)
