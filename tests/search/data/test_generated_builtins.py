"""MNIST and CIFAR-10 loaders on small generated files in the exact on-disk format Keras reads.

Neither data set is on this machine: the tests write a tiny ``mnist.npz`` and a tiny
``cifar-10-python.tar.gz`` (pickled batches) into a temporary ``KERAS_HOME`` and register their
hashes in ``CHECKSUMS``.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from search.data import DataError, load_dataset
from search.data._keras_datasets import CHECKSUMS

CIFAR_ARCHIVE = "cifar-10-batches-py-target_archive"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(count, dtype=np.uint8) % 10
    images = np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    return images, labels


@pytest.fixture
def mnist_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Keras home with a 60 + 20 image ``datasets/mnist.npz``; returns the file."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    path = tmp_path / "datasets" / "mnist.npz"
    (x_train, y_train), (x_test, y_test) = _digits(60, 0), _digits(20, 1)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_mnist_from_a_generated_mnist_npz(
    mnist_home: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.setitem(CHECKSUMS["mnist"], "mnist.npz", _sha256(mnist_home))
    data = load_dataset("mnist", val_fraction=0.5, seed=2)
    assert data.summary() == "mnist: 30 train / 30 val / 20 test, 28x28x1, 10 classes"
    assert data.class_names == tuple("0123456789")
    x_test, y_test = _digits(20, 1)
    assert np.array_equal(np.round(data.x_test[..., 0] * 255).astype(np.uint8), x_test)
    assert data.y_test.tolist() == y_test.tolist()
    assert np.bincount(data.y_val).tolist() == [3] * 10
    assert offline == []


def test_mnist_with_the_wrong_file_names_keras_checksum(
    mnist_home: Path, offline: list[str]
) -> None:
    with pytest.raises(DataError) as error:
        load_dataset("mnist")
    message = str(error.value)
    assert f"mnist: {mnist_home} is corrupt" in message
    assert "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1" in message
    assert f"put the original mnist.npz in {mnist_home.parent}/" in message
    assert offline == [] and mnist_home.is_file()


def _cifar_batch(count: int, offset: int) -> bytes:
    """A batch like the original pickles: a dict with bytes keys, (n, 3072) uint8 rows.

    Protocol 4: protocol 2 from Python 3 stores bytes through ``_codecs.encode`` and 5 stores arrays
    through ``numpy._core.numeric._frombuffer``, which Keras' restricted unpickler both refuses.
    """
    data = np.zeros((count, 3, 32, 32), dtype=np.uint8)
    labels = [(offset + index) % 10 for index in range(count)]
    for index, label in enumerate(labels):
        data[index, 0], data[index, 1], data[index, 2] = label, 100 + label, 200 + label
    batch = {
        b"batch_label": b"generated",
        b"labels": labels,
        b"data": data.reshape(count, 3072),
        b"filenames": [f"img{offset + index}.png".encode() for index in range(count)],
    }
    return pickle.dumps(batch, protocol=4)


def _cifar_archive(path: Path) -> None:
    """Writes ``cifar-10-python.tar.gz``: 5 train batches of 20 images, a test batch of 30."""
    members = {f"data_batch_{number}": _cifar_batch(20, 20 * number) for number in range(1, 6)}
    members["test_batch"] = _cifar_batch(30, 0)
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def test_cifar10_from_a_generated_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    archive = tmp_path / "datasets" / CIFAR_ARCHIVE
    _cifar_archive(archive)
    monkeypatch.setitem(CHECKSUMS["cifar10"], CIFAR_ARCHIVE, _sha256(archive))
    data = load_dataset("cifar10", val_fraction=0.2)
    assert data.summary() == "cifar10: 80 train / 20 val / 30 test, 32x32x3, 10 classes"
    assert data.class_names[0] == "airplane" and data.class_names[-1] == "truck"
    # Channels last, in R, G, B order, with each image's label in its pixels.
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        pixels = np.round(x[:, 5, 7, :] * 255).astype(int)
        assert (pixels == np.stack([y, 100 + y, 200 + y], axis=1)).all()
    assert np.bincount(data.y_val).tolist() == [2] * 10
    assert offline == []


def test_cifar10_missing_archive_says_where_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DataError) as error:
        load_dataset("cifar10")
    assert str(error.value) == (
        "cifar10: could not download cifar-10-python.tar.gz (no network?); put the original "
        f"cifar-10-python.tar.gz in {tmp_path / 'datasets'}/ named {CIFAR_ARCHIVE}"
    )
    assert offline == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
