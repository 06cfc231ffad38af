"""Hyperparameter search for Keras image classifiers: Optuna studies, MLflow tracking.

>>> import search
>>> result = search.tune("cnn", timeout="20m", enqueue_presets=True, refit=True)  # doctest: +SKIP
>>> result.test_accuracy  # doctest: +SKIP

The commands (``python -m search.run`` and the others) are the same search from a shell. The API
is imported lazily: ``import search`` alone loads neither TensorFlow nor Optuna.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TuneResult", "tune"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from search import api

        return getattr(api, name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
