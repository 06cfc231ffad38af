"""The :class:`Dataset` every search consumes, its error type and :func:`one_hot`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DataError", "Dataset", "one_hot"]


class DataError(Exception):
    """A data set cannot be loaded.

    The message is always one line that says what is wrong, which file and where the right file
    must go, so a command-line tool can print it and exit.
    """

    def __init__(self, message: str) -> None:
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", message).strip())


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image data set, split into train, validation and test parts.

    Images are float32 in [0, 1] with shape ``(n, height, width, channels)``; labels are int64 class
    indices with shape ``(n,)``. The validation part is a stratified hold-out of the training set;
    the test part is only meant for evaluating the final model. Data sets are cached and shared
    within a process, so every array is read-only: copy it before changing it.

    Attributes:
        name: ``"fashion_mnist"``, ``"mnist"``, ``"cifar10"`` or the user's path as given.
        class_names: One name per class, in label order.
        x_train: Training images.
        y_train: Training labels.
        x_val: Validation images.
        y_val: Validation labels.
        x_test: Test images.
        y_test: Test labels.
    """

    name: str
    class_names: tuple[str, ...]
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        """Checks that the parts agree with each other.

        Raises:
            ValueError: An image array is not 4-D, the parts' image shapes differ, or images and
                labels have different lengths.
        """
        parts = (
            ("train", self.x_train, self.y_train),
            ("val", self.x_val, self.y_val),
            ("test", self.x_test, self.y_test),
        )
        for part, x, y in parts:
            if x.ndim != 4 or x.shape[1:] != self.x_train.shape[1:]:
                raise ValueError(
                    f"x_{part} has shape {x.shape}, expected (n, *{self.x_train.shape[1:]})"
                )
            if y.shape != (x.shape[0],):
                raise ValueError(f"y_{part} has shape {y.shape}, expected ({x.shape[0]},)")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape of one image: ``(height, width, channels)``."""
        _, height, width, channels = self.x_train.shape
        return int(height), int(width), int(channels)

    @property
    def num_classes(self) -> int:
        """The number of classes, ``len(class_names)``."""
        return len(self.class_names)

    def summary(self) -> str:
        """Describes the data set in one line.

        Returns:
            For example
            ``"fashion_mnist: 54000 train / 6000 val / 10000 test, 28x28x1, 10 classes"``.
        """
        height, width, channels = self.input_shape
        return (
            f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / "
            f"{len(self.y_test)} test, {height}x{width}x{channels}, {self.num_classes} classes"
        )


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Turns class indices into one-hot rows.

    Args:
        y: Integer class indices, shape ``(n,)`` or ``(n, 1)``.
        num_classes: Width of the result; every index must be below it.

    Returns:
        A float32 array of shape ``(n, num_classes)`` with a single 1 per row.

    Raises:
        ValueError: ``y`` is not a vector of integers in ``[0, num_classes)``.
    """
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or not (labels.size == 0 or np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"expected a vector of integer class indices, got {labels.dtype} {labels.shape}"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        low, high = int(labels.min()), int(labels.max())
        raise ValueError(f"class indices must be in [0, {num_classes}), got {low}..{high}")
    encoded = np.zeros((labels.shape[0], num_classes), dtype=np.float32)
    encoded[np.arange(labels.shape[0]), labels] = 1.0
    return encoded
