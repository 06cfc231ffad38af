"""Feeding in-memory images to Keras: a ``tf.data`` pipeline without ``tf.data``'s autotuner.

Handed NumPy arrays, Keras 3 builds a ``tf.data`` pipeline of its own for every ``fit``, and
``tf.data`` tunes its parallelism and buffers anew on every iterator, once per epoch. On this
2-core machine that tuning competes with training for the cores: the first sixth of an epoch ran
4-5 times slower than the rest (250 ms against 52 ms a batch of the documents' CNN 003), and one
epoch in two took 20 s instead of 12 s (``benchmarks/input_pipeline.py``). The pipeline here does
what Keras' does — shuffle indices each epoch, gather whole batches at once — with the autotuner
off and a fixed prefetch, so every epoch runs at the speed of the model.

Each array is turned into a tensor once per process (:func:`_tensor`), so trials share it.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

__all__ = ["EVAL_BATCH_SIZE", "batches"]

#: batch size for validation, test and prediction passes (no gradients: larger batches are faster)
EVAL_BATCH_SIZE = 512

#: batches prepared ahead of the one training (fixed: the autotuner is what costs)
PREFETCH = 2

_tensors: dict[int, tuple[weakref.ref[np.ndarray], tf.Tensor]] = {}


def _tensor(array: np.ndarray) -> tf.Tensor:
    """``array`` as a tensor, converted once while the array lives (data sets are cached and
    read-only: see :class:`~search.data.Dataset`)."""
    key = id(array)
    hit = _tensors.get(key)
    if hit is not None and hit[0]() is array:
        return hit[1]
    tensor = tf.convert_to_tensor(array)
    try:
        ref = weakref.ref(array, lambda _ref, key=key: _tensors.pop(key, None))
    except TypeError:  # an array that cannot be referenced weakly (a view of a buffer): no cache
        return tensor
    _tensors[key] = (ref, tensor)
    return tensor


def batches(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None = None,
    indices: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of ``(images, one-hot labels)``, in a new order every epoch when ``shuffle``.

    Args:
        x: images, ``(n, height, width, channels)``.
        y: integer class indices, ``(n,)``.
        num_classes: width of the one-hot labels.
        batch_size: images per batch; the last batch holds the rest.
        shuffle: reshuffle the images at every epoch (training), or keep their order (evaluation).
        seed: the shuffle's seed (None: a fresh order each run).
        indices: train on these images of ``x`` only (e.g. a trial's first-epoch subset); the
            arrays are still turned into tensors once, and the batches gathered from them.

    Returns:
        A dataset of known length (Keras counts its steps, as the trial time budget needs).
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"{n} images but {len(y)} labels")
    images, labels = _tensor(x), _tensor(np.asarray(y, dtype=np.int64))
    if indices is None:
        order = tf.data.Dataset.range(n)
    else:
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and not (0 <= indices.min() and indices.max() < n):
            raise ValueError(f"indices outside the {n} images")
        order, n = tf.data.Dataset.from_tensor_slices(indices), len(indices)
    if shuffle:
        order = order.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)

    def gather(index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.gather(images, index), tf.one_hot(tf.gather(labels, index), num_classes)

    dataset = order.batch(batch_size).map(gather).prefetch(PREFETCH)
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    return dataset.with_options(options)
