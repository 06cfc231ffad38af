"""Search engines besides Optuna's own loop: keras-tuner over the same spaces and stores."""

from search.engines._keras_tuner import KerasTunerParams, run_keras_tuner

__all__ = ["KerasTunerParams", "run_keras_tuner"]
