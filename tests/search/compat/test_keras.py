"""``search.compat``'s Keras and keras-tuner adapter against the installed versions: reading a CIFAR
batch in CIFAR's own pickle format, and keras-tuner's DEBUG flag."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from search.compat import keras_tuner_debug, load_cifar_batch


def _write_batch(path: Path, images: np.ndarray, labels: list[int]) -> None:
    """A batch as CIFAR-10's ``data_batch_N``: a pickled dict with bytes keys, rows of 3072 bytes
    (1024 red, then 1024 green, then 1024 blue values, each plane row by row).

    Protocol 4: from Python 3, protocol 2 stores bytes through ``_codecs.encode`` and 5 stores arrays
    through ``numpy._core.numeric._frombuffer``, which Keras' restricted unpickler both refuses.
    """
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3 * 32 * 32)  # (n, h, w, c) to planes
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": rows,
             b"filenames": [f"img{i}.png".encode() for i in range(len(labels))]}  # fmt: skip
    with path.open("wb") as f:
        pickle.dump(batch, f, protocol=4)


def test_load_cifar_batch_reads_the_planes_and_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    images[0, 0, 0] = (255, 0, 10)  # first pixel of the first image: red, no green, a little blue
    labels = [3, 0, 9, 1, 3]
    _write_batch(tmp_path / "data_batch_1", images, labels)

    data, read_labels = load_cifar_batch(str(tmp_path / "data_batch_1"))
    assert list(read_labels) == labels
    assert data.shape == (5, 3, 32, 32) and data.dtype == np.uint8  # channels first, as Keras returns them
    np.testing.assert_array_equal(data.transpose(0, 2, 3, 1), images)
    assert data[0, :, 0, 0].tolist() == [255, 0, 10]


def test_load_cifar_batch_refuses_a_pickle_that_runs_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    with (tmp_path / "data_batch_1").open("wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [0]}, f)
    with pytest.raises(pickle.UnpicklingError):
        load_cifar_batch(str(tmp_path / "data_batch_1"))


@pytest.mark.parametrize("on", [True, False])
def test_keras_tuner_debug_sets_the_flag_and_restores_it(on: bool) -> None:
    from keras_tuner.src import config

    original = config.DEBUG
    try:
        config.DEBUG = not on
        with keras_tuner_debug(on):
            assert config.DEBUG is on
        assert config.DEBUG is (not on)
        with pytest.raises(RuntimeError), keras_tuner_debug(on):
            assert config.DEBUG is on
            raise RuntimeError("a failed trial")
        assert config.DEBUG is (not on)  # restored after an exception too
    finally:
        config.DEBUG = original
