"""Checksums before Keras: corrupt and missing files in the Keras cache give one-line DataErrors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from search.data import DataError, load_dataset
from search.data._keras_datasets import CHECKSUMS, keras_cache_dir


def _seed_cache(source: Path, home: Path, skip: tuple[str, ...] = ()) -> Path:
    """Copies Fashion-MNIST from ``source``'s cache (but ``skip``) into ``home``'s; returns it."""
    folder = home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in CHECKSUMS["fashion_mnist"]:
        if name not in skip:
            shutil.copyfile(source / "datasets" / "fashion-mnist" / name, folder / name)
    return folder


def _one_line(error: pytest.ExceptionInfo[DataError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message and "\r" not in message
    return message


def test_corrupt_file_is_named_with_its_checksum_and_folder(
    keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = _seed_cache(keras_home, tmp_path)
    damaged = folder / "train-labels-idx1-ubyte.gz"
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0x01
    damaged.write_bytes(bytes(content))
    with pytest.raises(DataError) as error:
        load_dataset("fashion_mnist", limit=100)
    message = _one_line(error)
    assert str(damaged) in message
    assert "corrupt" in message
    assert CHECKSUMS["fashion_mnist"]["train-labels-idx1-ubyte.gz"] in message
    assert f"in {folder}/" in message
    # Keras was never asked to re-download (which would also have deleted the file).
    assert offline == []
    assert damaged.read_bytes() == bytes(content)


def test_missing_file_names_it_and_the_folder(
    keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = _seed_cache(keras_home, tmp_path, skip=("t10k-images-idx3-ubyte.gz",))
    with pytest.raises(DataError) as error:
        load_dataset("fashion_mnist", limit=100)
    message = _one_line(error)
    assert message == (
        "fashion_mnist: could not download t10k-images-idx3-ubyte.gz (no network?); "
        f"put the file in {folder}/"
    )
    assert offline == [
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/t10k-images-idx3-ubyte.gz"
    ]
    assert len(list(folder.iterdir())) == 3


def test_all_files_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "fresh"))
    with pytest.raises(DataError) as error:
        load_dataset("fashion_mnist")
    message = _one_line(error)
    assert all(name in message for name in CHECKSUMS["fashion_mnist"])
    assert f"put the files in {tmp_path / 'fresh' / 'datasets' / 'fashion-mnist'}/" in message


def test_cache_folder_follows_the_environment_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "a"))
    assert keras_cache_dir() == tmp_path / "a"
    assert (tmp_path / "a").is_dir()
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    assert keras_cache_dir() == tmp_path / "home" / ".keras"
