"""Every use of Keras' and keras-tuner's private modules, in one adapter.

Checked against Keras 3.15 and keras-tuner 1.4.8 (``pyproject.toml``: ``keras>=3.8,<4``,
``keras-tuner>=1.4.7``). Why each is needed:

* ``keras.src.datasets.cifar.load_batch``: Keras' public ``cifar10.load_data()`` downloads;
  the platform reads an already fetched and verified archive with Keras' own batch reader.
* ``keras_tuner.src.config.DEBUG``: keras-tuner prints a traceback per failed trial while it is
  on (its default); the platform reports a failed trial in one line instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["keras_tuner_debug", "load_cifar_batch"]


def load_cifar_batch(path: str) -> tuple[Any, Any]:
    """Keras' reader of one pickled CIFAR-10 batch: ``(images, labels)``."""
    from keras.src.datasets.cifar import load_batch  # imports TensorFlow: only when needed

    return load_batch(path)


@contextlib.contextmanager
def keras_tuner_debug(on: bool) -> Iterator[None]:
    """Set keras-tuner's DEBUG flag while the block runs."""
    from keras_tuner.src import config

    old = config.DEBUG
    config.DEBUG = on
    try:
        yield
    finally:
        config.DEBUG = old
