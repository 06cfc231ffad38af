"""Which device trains and in which precision: the GPU when TensorFlow sees one, the CPU otherwise;
float32, or a Keras mixed policy where the hardware computes it natively."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tensorflow as tf

from search.core import PRECISIONS

__all__ = [
    "PrecisionError",
    "choose_policy",
    "configure_precision",
    "configure_threads",
    "cpu_flags",
    "device_description",
    "float32_copy",
    "native_bfloat16",
    "precision_policy",
    "use_precision",
]

_log = logging.getLogger("search")

#: x86 flags (``/proc/cpuinfo``) of instructions that compute bfloat16 natively: AVX512-BF16
#: (Cooper Lake, Zen 4 and later) and AMX-BF16 (Sapphire Rapids and later). TensorFlow's oneDNN
#: kernels use them for bfloat16 matrix products and convolutions; without them every bfloat16
#: operation is converted to float32 and back, so mixed_bfloat16 trains slower than float32.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


class PrecisionError(ValueError):
    """A ``--precision`` this machine cannot train in, or an unknown one."""


@functools.cache
def _device() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"GPU:0 ({len(gpus)} GPU{'s' if len(gpus) > 1 else ''})"
    cores = _usable_cores()
    return f"CPU ({cores} core{'s' if cores > 1 else ''})"


def device_description() -> str:
    """The device training runs on and its precision, e.g. ``"GPU:0 (2 GPUs), mixed_float16"`` or
    ``"CPU (2 cores), float32"`` (the precision: Keras' global policy, see :func:`configure_precision`)."""
    return f"{_device()}, {precision_policy()}"


#: the policy :func:`configure_precision` chose for this process
_policy = "float32"


def precision_policy() -> str:
    """The dtype policy models train in (:func:`configure_precision`): ``float32``,
    ``mixed_bfloat16`` or ``mixed_float16``."""
    return _policy


def use_precision() -> None:
    """Make the configured policy Keras' global one again, before a model is built.

    ``keras.backend.clear_session()``, which every trial calls first, resets Keras' global state,
    its dtype policy included, and that state is per thread: set once, the policy would hold for
    the first model built in the thread that set it and for no other.
    """
    import keras

    keras.mixed_precision.set_global_policy(_policy)


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


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The CPU feature flags in the text of ``/proc/cpuinfo`` (the first ``flags`` line: every
    core of a machine has the same)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def native_bfloat16(flags: Iterable[str]) -> bool:
    """Whether a CPU with these ``/proc/cpuinfo`` flags computes bfloat16 natively (:data:`BF16_FLAGS`)."""
    return not BF16_FLAGS.isdisjoint(flags)


@functools.cache
def _cpu_has_native_bfloat16() -> bool:
    """This machine's CPU: on Linux from ``/proc/cpuinfo``. Elsewhere (macOS, Windows) False:
    TensorFlow's CPU builds there have no oneDNN bfloat16 path that is faster than float32."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return native_bfloat16(cpu_flags(Path("/proc/cpuinfo").read_text(errors="replace")))
    except OSError:
        return False


def choose_policy(precision: str, *, gpu: bool, cpu_bf16: bool, mixed_precision: bool = False) -> tuple[str, str | None]:
    """The Keras dtype policy for ``--precision``, and a warning to give (None: none).

    ``auto`` is ``mixed_bfloat16`` on a CPU with native bfloat16 (:data:`BF16_FLAGS`), ``float32``
    on other CPUs, and on a GPU ``mixed_float16`` when ``--mixed-precision`` asked for it, else
    ``float32``. ``--mixed-precision`` is ``--precision float16`` on a GPU; on a CPU it is ignored
    with a warning, as it always was. ``bfloat16`` on a CPU without native support trains (the
    user asked) after a warning that it is slower; ``float16`` on a CPU is refused.

    Args:
        precision: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        gpu: TensorFlow sees a GPU.
        cpu_bf16: the CPU computes bfloat16 natively (ignored with a GPU).
        mixed_precision: ``--mixed-precision`` was given.

    Raises:
        PrecisionError: an unknown precision, float16 on a CPU, or ``--mixed-precision`` with a
            precision other than auto or float16.
    """
    if precision not in PRECISIONS:
        raise PrecisionError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if mixed_precision and precision not in ("auto", "float16"):
        raise PrecisionError(f"--mixed-precision is float16: give it or --precision {precision}, not both")
    warning = None
    if mixed_precision and not gpu:
        warning = "--mixed-precision needs a GPU: training in {policy} on the CPU"
    elif mixed_precision:
        precision = "float16"
    if precision == "float16" and not gpu:
        raise PrecisionError(
            "--precision float16 needs a GPU: a CPU emulates float16, much slower than float32 (use float32 or bfloat16)"
        )
    if precision == "auto":
        policy = "mixed_bfloat16" if not gpu and cpu_bf16 else "float32"
    else:
        policy = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[precision]
    if policy == "mixed_bfloat16" and not gpu and not cpu_bf16:
        warning = (
            "--precision bfloat16 on a CPU without native bfloat16 (no avx512_bf16 or amx_bf16 "
            "flag): TensorFlow converts every bfloat16 operation to float32 and back, so training "
            "is slower than in float32"
        )
    return policy, warning.format(policy=policy) if warning else None


_warned: set[str] = set()


def configure_precision(precision: str = "auto", *, mixed_precision: bool = False, warn: bool = True) -> str:
    """Set Keras' global dtype policy for ``--precision`` on this machine (:func:`choose_policy`).

    Layers built afterwards compute in it and keep float32 weights; the families' output layer
    and every Keras loss stay in float32. Always sets the policy, float32 included, so that a
    second search in one process does not inherit the first's; :func:`use_precision` sets it
    again after Keras' ``clear_session``.

    Args:
        precision: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
        mixed_precision: ``--mixed-precision`` (float16 on a GPU).
        warn: log the policy's warning, once per process (False in ``--workers``' processes:
            the parent gave it).

    Returns:
        The policy's name: ``float32``, ``mixed_bfloat16`` or ``mixed_float16``.

    Raises:
        PrecisionError: see :func:`choose_policy`.
    """
    gpu = bool(tf.config.list_physical_devices("GPU"))
    policy, warning = choose_policy(
        precision, gpu=gpu, cpu_bf16=not gpu and _cpu_has_native_bfloat16(), mixed_precision=mixed_precision
    )
    if warning and warn and warning not in _warned:
        _warned.add(warning)
        _log.warning("%s", warning)
    global _policy
    _policy = policy
    use_precision()
    return policy


def float32_copy(model: Any) -> Any:
    """``model`` with every layer in float32 and the same weights, for use elsewhere: a model
    trained under a mixed policy keeps its layers' policies when saved, so another machine would
    load it computing in bfloat16 (emulated, slow and less exact on most CPUs) or float16. Its
    compilation (loss, metrics, a fresh optimizer) is copied. A model already all float32, or one
    Keras cannot clone (a subclassed model), is returned as it is.
    """
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in _all_layers(model)):
        return model

    def in_float32(layer: Any) -> Any:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # the clone's inputs and nested models too
    try:
        clone = keras.models.clone_model(model, clone_function=in_float32, recursive=True)
        clone.set_weights(model.get_weights())
    except Exception as exc:  # a subclassed model: no config to clone from
        _log.debug("%s stays in %s: %s", model.name, previous.name, exc)
        return model
    finally:
        keras.mixed_precision.set_global_policy(previous)
    if model.compiled:
        try:
            clone.compile_from_config(model.get_compile_config())
        except Exception as exc:  # a user's loss or metric Keras cannot deserialize: inference only
            _log.debug("the float32 copy of %s is not compiled: %s", model.name, exc)
    return clone


def _all_layers(model: Any) -> list[Any]:
    layers = [model]
    for layer in getattr(model, "layers", ()):
        layers.extend(_all_layers(layer) if hasattr(layer, "layers") else [layer])
    return layers
