"""How should in-memory images reach ``model.fit``? Keras' own arrays path, tf.data, or the platform's.

    python benchmarks/input_pipeline.py            # 54,000 images, 4 epochs, 2 rounds
    python benchmarks/input_pipeline.py --quick    # 20,000 images, 4 epochs, 1 round

The platform keeps each data set in memory once per process (``search.data.load_dataset``). This
trains the LeNet-5, basic-CNN (002) and dropout-0.7 CNN (003) presets three ways, alternating the
order each round, and prints the median and the slowest of their epochs (the first epoch, which
traces the graph, not counted):

* **arrays**: ``model.fit(x, y, batch_size=...)``: Keras builds its own ``tf.data`` pipeline;
* **tf.data**: ``Dataset.from_tensor_slices((x, y)).cache().shuffle().batch().prefetch(AUTOTUNE)``;
* **platform**: ``search.data.batches``, what every trial uses: shuffled indices, whole batches
  gathered at once, ``tf.data``'s autotuner off, a fixed prefetch.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import start_tensorflow  # noqa: E402

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from search.core import setup_logging  # noqa: E402
from search.data import EVAL_BATCH_SIZE, batches, load_dataset, one_hot  # noqa: E402
from search.training import (
    EpochTimer,  # noqa: E402
    device_description,  # noqa: E402
)
from spaces import get_space  # noqa: E402

_log = logging.getLogger("search.benchmarks")
PRESETS = (("lenet", "doc000_lenet5"), ("cnn", "doc002_basic_cnn"), ("cnn", "doc003_cnn_dropout07"))
METHODS = ("arrays", "tf.data", "platform")


def epoch_seconds(family: str, preset: str, limit: int | None, epochs: int, method: str) -> list[float]:
    """Seconds of each epoch after the first, training ``preset`` fed by ``method``."""
    space = get_space(family)
    data = load_dataset("fashion_mnist", limit=limit, seed=0)
    candidate = space.from_params(space.presets[preset].params)
    keras.backend.clear_session()
    model = space.build_model(candidate, data.input_shape, data.num_classes)
    space.compile(model, candidate)
    batch, k = candidate.train.batch_size, data.num_classes
    timer = EpochTimer()
    if method == "platform":
        train = batches(data.x_train, data.y_train, k, batch, shuffle=True)
        val = batches(data.x_val, data.y_val, k, EVAL_BATCH_SIZE, shuffle=False)
        model.fit(train, validation_data=val, shuffle=False, epochs=epochs, verbose=0, callbacks=[timer])
    elif method == "tf.data":
        y, y_val = one_hot(data.y_train, k), one_hot(data.y_val, k)
        train = tf.data.Dataset.from_tensor_slices((data.x_train, y)).cache().shuffle(10_000, seed=0)
        train = train.batch(batch).prefetch(tf.data.AUTOTUNE)
        val = tf.data.Dataset.from_tensor_slices((data.x_val, y_val)).cache().batch(512).prefetch(tf.data.AUTOTUNE)
        model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[timer])
    else:
        y, y_val = one_hot(data.y_train, k), one_hot(data.y_val, k)
        model.fit(data.x_train, y, validation_data=(data.x_val, y_val), batch_size=batch, epochs=epochs,
                  verbose=0, callbacks=[timer])  # fmt: skip
    return timer.seconds[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 images, 1 round")
    args = parser.parse_args()
    setup_logging()
    limit, epochs, rounds = (20_000, 4, 1) if args.quick else (None, 4, 2)
    _log.info("machine: %s, %s, Python %s", platform.machine(), device_description(), platform.python_version())
    _log.info("| preset | %s |", " | ".join(f"{m} s/epoch (slowest)" for m in METHODS))
    _log.info("|---|%s", "---:|" * len(METHODS))
    for family, preset in PRESETS:
        times: dict[str, list[float]] = {m: [] for m in METHODS}
        for r in range(rounds):
            for method in METHODS if r % 2 == 0 else METHODS[::-1]:
                times[method] += epoch_seconds(family, preset, limit, epochs, method)
        cells = [f"{statistics.median(times[m]):.2f} ({max(times[m]):.2f})" for m in METHODS]
        _log.info("| %s | %s |", preset, " | ".join(cells))


if __name__ == "__main__":
    main()
