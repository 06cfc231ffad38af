"""Which device trains: the GPU when TensorFlow sees one, the CPU otherwise."""

from __future__ import annotations

import functools
import os

import tensorflow as tf

__all__ = ["configure_precision", "configure_threads", "device_description"]


@functools.cache
def device_description() -> str:
    """A short name of the device training runs on, e.g. ``"GPU:0 (2 GPUs)"`` or ``"CPU (2 cores)"``."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"GPU:0 ({len(gpus)} GPU{'s' if len(gpus) > 1 else ''})"
    cores = _usable_cores()
    return f"CPU ({cores} core{'s' if cores > 1 else ''})"


def _usable_cores() -> int:
    """The cores this process may run on: its affinity (``taskset -c 0`` gives 1), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def configure_threads(threads: int | None) -> None:
    """Limit TensorFlow's thread pools (one worker per core runs best with ``threads=1``).

    Must be called before TensorFlow runs its first operation; later calls are ignored.
    """
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:  # already initialised
        pass


def configure_precision(mixed: bool) -> bool:
    """Use float16 compute with float32 weights (Keras' ``mixed_float16``) when asked and a GPU
    is there; on a CPU it would only be slower, so it is refused with a warning.

    Returns:
        Whether mixed precision is on.
    """
    import logging

    import keras

    if not mixed:
        return False
    if not tf.config.list_physical_devices("GPU"):
        logging.getLogger("search").warning("--mixed-precision needs a GPU: training in float32 on the CPU")
        return False
    keras.mixed_precision.set_global_policy("mixed_float16")
    return True
