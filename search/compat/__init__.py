"""Adapters to the private APIs of Optuna, Keras and keras-tuner: the one place to look when
one of those libraries changes (each module says which versions it was checked against and why)."""

from search.compat._keras import keras_tuner_debug, load_cifar_batch
from search.compat._optuna import (
    cached_trials,
    claim_waiting_trial,
    first_heartbeat,
    heartbeat_thread,
    storage_of,
    trial_id,
)

__all__ = [
    "cached_trials",
    "claim_waiting_trial",
    "first_heartbeat",
    "heartbeat_thread",
    "keras_tuner_debug",
    "load_cifar_batch",
    "storage_of",
    "trial_id",
]
