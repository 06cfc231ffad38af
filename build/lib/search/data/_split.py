"""From decoded arrays to a :class:`Dataset`: test hold-out, ``limit`` and the validation split."""

from __future__ import annotations

import logging
import math
import operator
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from search.data._dataset import DataError, Dataset

__all__ = ["TEST_FRACTION", "RawData", "check_val_fraction", "make_dataset"]

_LOG = logging.getLogger(__name__)

TEST_FRACTION = 0.2
"""Share of a source without its own test set that is held out (stratified) as the test set."""


@dataclass(frozen=True, eq=False)
class RawData:
    """The decoded arrays of one source, before any split; cached once per process.

    Attributes:
        class_names: One name per class, in label order.
        x_train: Training images ``(n, h, w, c)``, uint8 in 0..255 or float32 in [0, 1].
        y_train: Training labels, int64 ``(n,)``.
        x_test: Test images like ``x_train``, or ``None`` when the source has no test set (then
            :data:`TEST_FRACTION` of the training images is held out, stratified, by seed).
        y_test: Test labels, or ``None`` with ``x_test``.
    """

    class_names: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def check_val_fraction(val_fraction: float) -> float:
    """Validates ``val_fraction``.

    Args:
        val_fraction: Share of the training images to hold out for validation.

    Returns:
        ``val_fraction`` as a float.

    Raises:
        DataError: It is not a number strictly between 0 and 1.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float):
        raise DataError(f"val_fraction must be a number between 0 and 1, got {val_fraction!r}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise DataError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}")
    return float(val_fraction)


def _check_limit(name: str, limit: int | None, num_classes: int) -> int | None:
    if limit is None:
        return None
    try:
        if isinstance(limit, bool):
            raise TypeError
        value = operator.index(limit)
    except TypeError:
        raise DataError(f"{name}: limit must be a whole number of images, got {limit!r}") from None
    if value < 2 * num_classes:
        raise DataError(
            f"{name}: limit={value} is too small for {num_classes} classes; "
            f"use at least {2 * num_classes} (2 images per class)"
        )
    return value


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _split(
    name: str, indices: np.ndarray, labels: np.ndarray, test_size: float, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of ``indices`` into (kept, held out), both sorted."""
    classes = len(np.unique(labels))
    held = math.ceil(test_size * len(indices))
    if min(held, len(indices) - held) < classes:
        raise DataError(
            f"{name}: cannot hold out {what}: {test_size:g} of {len(indices)} images leaves "
            f"{held} held out and {len(indices) - held} kept, fewer than one per class for "
            f"{classes} classes; use more images (limit) or another fraction"
        )
    try:
        kept, out = train_test_split(
            indices, test_size=test_size, stratify=labels, random_state=seed
        )
    except ValueError as exc:
        raise DataError(
            f"{name}: cannot hold out {what}: {_one_line(exc)}; every class needs at least 2 images"
        ) from None
    return np.sort(kept), np.sort(out)


def _take(
    name: str, indices: np.ndarray, labels: np.ndarray, count: int, seed: int, what: str
) -> np.ndarray:
    """A stratified subset of ``count`` of ``indices`` (all if there are not more), sorted."""
    if count >= len(indices):
        return indices
    try:
        kept, _ = train_test_split(indices, train_size=count, stratify=labels, random_state=seed)
    except ValueError as exc:
        # Too few images in some class, or too few left over: stratification is impossible.
        _LOG.warning("%s: %s: %s; taking a plain random subset", name, what, _one_line(exc))
        kept = np.random.default_rng(seed).choice(indices, size=count, replace=False)
    return np.sort(kept)


def _as_unit_float(images: np.ndarray) -> np.ndarray:
    """Float32 in [0, 1], read-only; uint8 images are divided by 255."""
    if images.dtype == np.uint8:
        result: np.ndarray = np.divide(images, np.float32(255.0), dtype=np.float32)
    else:
        result = images.astype(np.float32, copy=False)
    result.flags.writeable = False
    return result


def _labels(y: np.ndarray) -> np.ndarray:
    result = y.astype(np.int64)
    result.flags.writeable = False
    return result


def make_dataset(
    name: str, raw: RawData, *, val_fraction: float, limit: int | None, seed: int
) -> Dataset:
    """Splits decoded arrays into a :class:`Dataset`.

    If ``raw`` has no test set, a stratified :data:`TEST_FRACTION` of it becomes the test set.
    With a ``limit``, a stratified subset of ``limit`` training images is taken before the
    validation split and the test set is cut to at most ``limit`` images (stratified). Then
    ``val_fraction`` of the training images is held out, stratified, for validation. Every split
    uses ``seed``.

    Args:
        name: The data set's name, used in the result and in error messages.
        raw: The decoded arrays.
        val_fraction: Share of the training images for validation, in (0, 1).
        limit: At most this many training images and this many test images; ``None`` for all.
        seed: Random seed of every split.

    Returns:
        The data set, with float32 images in [0, 1] and read-only arrays.

    Raises:
        DataError: ``val_fraction`` or ``limit`` is out of range, or a class has too few images to
            split.
    """
    val_fraction = check_val_fraction(val_fraction)
    limit = _check_limit(name, limit, len(raw.class_names))
    pool = np.arange(len(raw.y_train))
    if raw.x_test is None or raw.y_test is None:
        pool, test = _split(name, pool, raw.y_train, TEST_FRACTION, seed, "a test set")
        x_test_source, y_test_source = raw.x_train, raw.y_train
    else:
        test = np.arange(len(raw.y_test))
        x_test_source, y_test_source = raw.x_test, raw.y_test
    if limit is not None:
        pool = _take(name, pool, raw.y_train[pool], limit, seed, "limit on training images")
        test = _take(name, test, y_test_source[test], limit, seed, "limit on test images")
    train, val = _split(name, pool, raw.y_train[pool], val_fraction, seed, "a validation set")
    return Dataset(
        name=name,
        class_names=raw.class_names,
        x_train=_as_unit_float(raw.x_train[train]),
        y_train=_labels(raw.y_train[train]),
        x_val=_as_unit_float(raw.x_train[val]),
        y_val=_labels(raw.y_train[val]),
        x_test=_as_unit_float(x_test_source[test]),
        y_test=_labels(y_test_source[test]),
    )
