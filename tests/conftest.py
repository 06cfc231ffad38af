"""Fixtures shared by the whole test suite.

``keras_home``: a private Keras cache seeded with the real Fashion-MNIST from ``../shared`` (this
machine and CI have no internet), so ``load_dataset("fashion_mnist")`` works without a download.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
"""The project's read-only material, beside the checkout (see ``../shared/README.md``)."""

FASHION_MNIST_DIR = SHARED_DIR / "data" / "fashion-mnist"
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(scope="session")
def keras_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary Keras home whose cache holds the real Fashion-MNIST, for the whole session.

    Copies the four original files into ``<home>/datasets/fashion-mnist/`` (writable copies: tests
    may damage their own copies, never ``../shared``) and sets ``$KERAS_HOME`` to ``<home>`` until
    the session ends. ``search.data.load_dataset`` resolves ``$KERAS_HOME`` at each call. Keras
    itself reads it once, at its first import; if Keras is already imported, its cached value is
    pointed at ``<home>`` too, so ``keras.datasets.fashion_mnist.load_data()`` also reads the copy.

    Tests that need another cache (corrupt or missing files, generated MNIST or CIFAR-10 files) set
    ``KERAS_HOME`` to their own ``tmp_path`` with ``monkeypatch.setenv`` instead.

    Yields:
        The Keras home folder.
    """
    if not all((FASHION_MNIST_DIR / name).is_file() for name in FASHION_MNIST_FILES):
        pytest.fail(f"the real Fashion-MNIST is missing from {FASHION_MNIST_DIR}/ (see ../shared)")
    home = tmp_path_factory.mktemp("keras_home")
    cache = home / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in FASHION_MNIST_FILES:
        shutil.copyfile(FASHION_MNIST_DIR / name, cache / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        keras_config = sys.modules.get("keras.src.backend.config")
        if keras_config is not None:
            # Keras resolved $KERAS_HOME when imported; raising=False: a private name may change.
            patch.setattr(keras_config, "_KERAS_DIR", str(home), raising=False)
        yield home
