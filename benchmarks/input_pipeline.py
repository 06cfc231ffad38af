"""Does a ``tf.data`` pipeline beat feeding the in-memory arrays straight to ``model.fit``?

    python benchmarks/input_pipeline.py            # 20,000 images, 3 epochs, 3 rounds
    python benchmarks/input_pipeline.py --quick    # 10,000 images, 2 epochs, 2 rounds

The platform keeps each data set in memory once per process (``search.data.load_dataset``) and
hands the NumPy arrays to ``model.fit``. This trains the LeNet-5 and basic-CNN presets both ways,
alternating, and prints seconds per epoch (the first epoch, which traces the graph, not counted):

* **arrays**: ``model.fit(x, y, batch_size=...)``, as ``search._training.fit_candidate`` does;
* **tf.data**: ``Dataset.from_tensor_slices((x, y)).cache().shuffle().batch().prefetch(AUTOTUNE)``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from search._cli import setup_logging  # noqa: E402
from search._devices import device_description  # noqa: E402
from search._training import EpochTimer  # noqa: E402
from search.data import load_dataset, one_hot  # noqa: E402
from spaces import get_space  # noqa: E402

_log = logging.getLogger("search.benchmarks")
PRESETS = (("lenet", "doc000_lenet5"), ("cnn", "doc002_basic_cnn"))


def epoch_seconds(family: str, preset: str, limit: int, epochs: int, pipeline: bool) -> float:
    space = get_space(family)
    data = load_dataset("fashion_mnist", limit=limit, seed=0)
    candidate = space.from_params(space.presets[preset].params)
    keras.backend.clear_session()
    model = space.build_model(candidate, data.input_shape, data.num_classes)
    space.compile(model, candidate)
    y, y_val = one_hot(data.y_train, data.num_classes), one_hot(data.y_val, data.num_classes)
    batch = candidate.train.batch_size
    timer = EpochTimer()
    if pipeline:
        train = tf.data.Dataset.from_tensor_slices((data.x_train, y)).cache().shuffle(10_000, seed=0)
        train = train.batch(batch).prefetch(tf.data.AUTOTUNE)
        val = tf.data.Dataset.from_tensor_slices((data.x_val, y_val)).cache().batch(512).prefetch(tf.data.AUTOTUNE)
        model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[timer])
    else:
        model.fit(data.x_train, y, validation_data=(data.x_val, y_val), batch_size=batch, epochs=epochs,
                  verbose=0, callbacks=[timer])  # fmt: skip
    return statistics.mean(timer.seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    setup_logging()
    limit, epochs, rounds = (10_000, 2, 2) if args.quick else (20_000, 3, 3)
    _log.info("machine: %s, %s, Python %s", platform.machine(), device_description(), platform.python_version())
    _log.info("| preset | arrays s/epoch | tf.data s/epoch | tf.data / arrays |")
    _log.info("|---|---:|---:|---:|")
    for family, preset in PRESETS:
        times: dict[bool, list[float]] = {False: [], True: []}
        for r in range(rounds):
            for pipeline in (False, True) if r % 2 == 0 else (True, False):
                times[pipeline].append(epoch_seconds(family, preset, limit, epochs, pipeline))
        a, t = statistics.median(times[False]), statistics.median(times[True])
        _log.info("| %s | %.2f | %.2f | %.3f |", preset, a, t, t / a)


if __name__ == "__main__":
    main()
