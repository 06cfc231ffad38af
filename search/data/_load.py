"""``load_dataset``: pick the source, decode it once per process, split it once per arguments."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from search.data._dataset import DataError, Dataset
from search.data._folder import read_folder
from search.data._keras_datasets import keras_cache_dir, load_builtin
from search.data._npz import raw_from_arrays, read_npz
from search.data._split import RawData, check_val_fraction, make_dataset

__all__ = ["DATASETS", "dataset_from_arrays", "dataset_source", "load_dataset"]

_LOG = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("fashion_mnist", "mnist", "cifar10")
"""Names of the built-in data sets (loaded through Keras' cache)."""

_LOCK = threading.Lock()
# Decoded arrays by source, and finished data sets by source and split arguments.
_RAW: dict[tuple[str, str, str], RawData] = {}
_LOADED: dict[tuple[object, ...], Dataset] = {}


def _source(name: str) -> tuple[str, str]:
    """(kind, where): ("builtin", Keras cache folder), ("npz", file) or ("folder", folder)."""
    if name in DATASETS:
        return "builtin", str(keras_cache_dir())
    path = Path(name).expanduser()
    if path.is_dir():
        return "folder", str(path.resolve())
    if path.is_file() and path.suffix.lower() == ".npz":
        return "npz", str(path.resolve())
    if path.is_file():
        raise DataError(
            f"{path} is not a .npz file; give a .npz file, a folder of images "
            f"or one of {', '.join(DATASETS)}"
        )
    raise DataError(
        f"unknown data set {name!r}: not one of {', '.join(DATASETS)} and no such file or folder "
        "(give a .npz file, or a folder with one sub-folder of images per class)"
    )


def dataset_source(name: str) -> str:
    """Where data set ``name`` is read from: the Keras cache folder of a built-in, else the
    absolute path of the user's ``.npz`` file or image folder.

    Raises:
        DataError: no such data set.
    """
    kind, where = _source(name)
    return str(Path(where) / "datasets") if kind == "builtin" else where


def _read(name: str, kind: str, where: str) -> RawData:
    if kind == "builtin":
        return load_builtin(name)
    if kind == "npz":
        return read_npz(Path(where))
    return read_folder(Path(where))


def load_dataset(
    name: str, *, val_fraction: float = 0.1, limit: int | None = None, seed: int = 0
) -> Dataset:
    """Loads a data set, split into train, validation and test parts.

    Results are cached for the process: the same arguments return the same object, and other
    arguments for the same source reuse its decoded arrays without reading files again.

    Args:
        name: A built-in data set (see :data:`DATASETS`; files from the Keras cache, ``$KERAS_HOME``
            or ``~/.keras``, checked against their published checksums), the path of a ``.npz`` file
            (arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``) or the path of a folder with
            one sub-folder of images per class (or ``train/`` and ``test/`` folders of those).
        val_fraction: Share of the training images held out, stratified, for validation; in (0, 1).
        limit: Use a stratified subset of this many training images (before the validation split)
            and at most this many test images; at least 2 per class. ``None`` uses everything.
        seed: Seed of every random split.

    Returns:
        The data set: float32 images in [0, 1] with a channel axis, int64 labels, read-only arrays.

    Raises:
        DataError: The data cannot be found, read or verified, or an argument is out of range. The
            message is one line naming the file and where the right one must go.
    """
    check_val_fraction(val_fraction)
    kind, where = _source(name)
    # A built-in is identified by its name and the Keras cache folder, a user's data by its path.
    raw_key = (kind, name if kind == "builtin" else "", where)
    key = (raw_key, name, float(val_fraction), limit, seed)
    with _LOCK:
        dataset = _LOADED.get(key)
        if dataset is not None:
            _LOG.debug("%s: from the in-process cache", name)
            return dataset
        started = time.perf_counter()
        raw = _RAW.get(raw_key)
        if raw is None:
            raw = _read(name, kind, where)
            _RAW[raw_key] = raw
        dataset = make_dataset(name, raw, val_fraction=val_fraction, limit=limit, seed=seed)
        _LOADED[key] = dataset
    _LOG.info("loaded %s in %.2f s", dataset.summary(), time.perf_counter() - started)
    return dataset


def dataset_from_arrays(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    *,
    name: str = "arrays",
    class_names: Sequence[str] | None = None,
    val_fraction: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """A data set from arrays in memory (a notebook's), checked and split as a ``.npz`` file is.

    Args:
        x_train: Images ``(n, h, w)`` or ``(n, h, w, c)``, uint8 0..255 or floats in [0, 1].
        y_train: Class indices ``(n,)`` or one-hot rows.
        x_test: Test images like ``x_train``; ``None``: a stratified 20 % of the training images.
        y_test: Test labels, with ``x_test``.
        name: The data set's name (it names the study).
        class_names: One name per class (default ``"0"``, ``"1"``, ...).
        val_fraction: Share of the training images held out, stratified, for validation.
        limit: As for :func:`load_dataset`.
        seed: Seed of every random split.

    Raises:
        DataError: An array has a wrong shape or values, or an argument is out of range.
    """
    arrays = {"x_train": np.asarray(x_train), "y_train": np.asarray(y_train),
              "x_test": None if x_test is None else np.asarray(x_test),
              "y_test": None if y_test is None else np.asarray(y_test)}  # fmt: skip
    names = None if class_names is None else np.asarray([str(n) for n in class_names])
    raw = raw_from_arrays(name, arrays, names)
    return make_dataset(name, raw, val_fraction=val_fraction, limit=limit, seed=seed)
