"""Keras' built-in image data sets, checked against their published checksums before Keras runs.

Keras' ``load_data()`` functions fetch their files with ``keras.utils.get_file``, which downloads a
missing file and, when a cached file's hash is wrong, deletes it while trying to download it again
(which fails offline). So the files already in the cache are verified here first, and ``get_file``
is then called with exactly the arguments the Keras loaders use, plus an explicit ``cache_dir``:
Keras reads ``$KERAS_HOME`` once, when it is first imported, while this module resolves it at call
time. The files are then decoded the way the Keras loaders decode them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from search.data._dataset import DataError
from search.data._formats import read_cifar10, read_fashion_mnist, read_mnist
from search.data._split import RawData

__all__ = ["CHECKSUMS", "keras_cache_dir", "load_builtin"]

_LOG = logging.getLogger(__name__)
_TF_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

CHECKSUMS: dict[str, dict[str, str]] = {
    # Published with Fashion-MNIST (and in ../shared/README.md).
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    # The sha256 hashes keras/src/datasets/mnist.py and cifar10.py pass to get_file.
    "mnist": {"mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"},
    "cifar10": {
        "cifar-10-batches-py-target_archive": (
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
        )
    },
}
"""Expected hash of every file a built-in data set keeps in the Keras cache, by data set and by the
file's name in the cache: md5 (32 hex digits) or sha256 (64). Tests that generate small files in a
built-in's format register their hashes here."""


@dataclass(frozen=True)
class _KerasFile:
    """One ``keras.utils.get_file`` call of a Keras ``load_data()``."""

    fname: str
    origin: str
    cache_subdir: str = "datasets"
    extract: bool = False

    @property
    def cached_name(self) -> str:
        """The file's name in the cache folder (``get_file`` renames archives it extracts)."""
        return f"{self.fname}_archive" if self.extract else self.fname

    @property
    def download_name(self) -> str:
        """The file's name at its origin."""
        return self.origin.rsplit("/", 1)[-1]


_FASHION_MNIST_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
_FILES: dict[str, tuple[_KerasFile, ...]] = {
    "fashion_mnist": tuple(
        _KerasFile(name, _TF_DATASETS + name, os.path.join("datasets", "fashion-mnist"))
        for name in _FASHION_MNIST_FILES
    ),
    "mnist": (_KerasFile("mnist.npz", _TF_DATASETS + "mnist.npz"),),
    "cifar10": (
        _KerasFile(
            "cifar-10-batches-py-target",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            extract=True,
        ),
    ),
}


def keras_cache_dir() -> Path:
    """The folder ``keras.utils.get_file`` caches in, resolved from the environment now.

    ``$KERAS_HOME`` if set, else ``~/.keras`` (``/tmp/.keras`` if the home folder is read-only),
    created if missing; like ``get_file``, ``/tmp/.keras`` if that folder is not writable.

    Returns:
        The absolute folder; data sets are in its ``datasets/`` sub-folder.
    """
    home = os.environ.get("KERAS_HOME")
    if home:
        base = os.path.expanduser(home)
    else:
        user = os.path.expanduser("~")
        base = os.path.join(user if os.access(user, os.W_OK) else "/tmp", ".keras")
    with contextlib.suppress(OSError):
        os.makedirs(base, exist_ok=True)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(base).absolute()


def _file_hash(path: Path, expected: str) -> tuple[str, str]:
    """The (algorithm, hex digest) of a file, md5 or sha256 as the length of ``expected`` says."""
    if len(expected) == 64:
        algorithm, hasher = "sha256", hashlib.sha256()
    else:
        algorithm, hasher = "md5", hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(chunk)
    return algorithm, hasher.hexdigest()


def _put(file: _KerasFile, folder: Path) -> str:
    if file.download_name == file.cached_name:
        return f"put the original {file.cached_name} in {folder}/"
    return f"put the original {file.download_name} in {folder}/ named {file.cached_name}"


def _verify(name: str, folder: Path, files: tuple[_KerasFile, ...]) -> None:
    """Raises DataError for the first cached file whose hash is wrong."""
    for file in files:
        path = folder / file.cached_name
        if not path.is_file():
            continue
        expected = CHECKSUMS[name][file.cached_name]
        try:
            algorithm, actual = _file_hash(path, expected)
        except OSError as exc:
            raise DataError(f"{name}: cannot read {path}: {exc}; {_put(file, folder)}") from None
        if actual != expected:
            raise DataError(
                f"{name}: {path} is corrupt ({algorithm} {actual}, expected {expected}); "
                f"{_put(file, folder)}"
            )
        _LOG.debug("%s: %s matches %s %s", name, path, algorithm, expected)


def _missing_error(name: str, folder: Path, files: tuple[_KerasFile, ...]) -> DataError:
    missing = [file for file in files if not (folder / file.cached_name).is_file()]
    names = ", ".join(file.download_name for file in missing)
    if all(file.download_name == file.cached_name for file in missing):
        where = f"put the file{'s' if len(missing) > 1 else ''} in {folder}/"
    else:
        where = "; ".join(_put(file, folder) for file in missing)
    return DataError(f"{name}: could not download {names} (no network?); {where}")


def _fetch(name: str, folder: Path, cache: Path, files: tuple[_KerasFile, ...]) -> dict[str, Path]:
    """Calls ``get_file`` like the Keras loader does; returns each file's path by cached name."""
    from keras.utils import get_file  # noqa: PLC0415 - imports TensorFlow: only when needed

    paths = {}
    for file in files:
        target = folder / file.cached_name
        # Hashes of present files were checked already; a downloaded file is checked by get_file.
        expected = None if target.is_file() else CHECKSUMS[name][file.cached_name]
        try:
            path = get_file(
                fname=file.fname,
                origin=file.origin,
                cache_subdir=file.cache_subdir,
                extract=file.extract,
                file_hash=expected,
                cache_dir=str(cache),
            )
        except tarfile.TarError as exc:
            raise DataError(
                f"{name}: cannot extract {target}: {exc}; {_put(file, folder)}"
            ) from None
        except Exception as exc:  # get_file raises a bare Exception when offline
            _LOG.warning("%s: could not download %s: %s", name, file.origin, exc)
            if isinstance(exc, ValueError) and target.is_file():
                raise DataError(
                    f"{name}: the downloaded {target} is corrupt (expected hash {expected}); "
                    f"{_put(file, folder)}"
                ) from None
            raise _missing_error(name, folder, files) from None
        paths[file.cached_name] = Path(path)
    return paths


def load_builtin(name: str) -> RawData:
    """Verifies, fetches (if missing) and decodes a built-in data set from the Keras cache.

    Args:
        name: ``"fashion_mnist"``, ``"mnist"`` or ``"cifar10"``.

    Returns:
        The decoded arrays: uint8 images with a channel axis and int64 labels.

    Raises:
        DataError: A cached file is corrupt, or missing and cannot be downloaded, or unreadable.
    """
    files = _FILES[name]
    cache = keras_cache_dir()
    folder = cache / files[0].cache_subdir
    _LOG.info("%s: loading from %s/", name, folder)
    _verify(name, folder, files)
    paths = _fetch(name, folder, cache, files)
    if name == "fashion_mnist":
        return read_fashion_mnist(paths, f"put the original files in {folder}/")
    if name == "mnist":
        return read_mnist(paths["mnist.npz"], _put(files[0], folder))
    return read_cifar10(paths["cifar-10-batches-py-target_archive"], _put(files[0], folder))
