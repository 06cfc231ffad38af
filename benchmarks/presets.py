"""Seconds per epoch of every preset of every family on this machine.

    python benchmarks/presets.py            # full training split, 2 epochs each; the 2nd is timed
    python benchmarks/presets.py --quick    # 5,000 images

Prints one row per preset: family, preset, parameters, batch size, seconds per epoch, images per
second, and the validation accuracy after that epoch.
"""

from __future__ import annotations

import argparse
import logging
import platform

import numpy as np

from search.core import start_tensorflow  # noqa: E402

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

from search.core import setup_logging  # noqa: E402
from search.data import Dataset, load_dataset  # noqa: E402
from search.training import (
    device_description,  # noqa: E402
    fit_candidate,  # noqa: E402
)
from spaces import FAMILIES  # noqa: E402

_log = logging.getLogger("search.benchmarks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 training images instead of all")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per preset; the last is timed (default 2)")
    args = parser.parse_args()
    setup_logging()
    limit = 5000 if args.quick else None
    _log.info("machine: %s, %s, %s", platform.machine(), device_description(), platform.python_version())
    _log.info("| family | preset | params | batch | s/epoch (measured) | images/s | s/epoch (full training split) | val acc |")
    _log.info("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for family, space in FAMILIES.items():
        for preset in space.presets.values():
            synthetic = not _available(preset.dataset)
            # Time does not depend on pixel values: a missing data set is timed on random images
            # of its shape and size (its accuracy is then meaningless, and not shown).
            data = _random_like(preset.dataset, limit) if synthetic else load_dataset(preset.dataset, limit=limit)
            candidate = space.from_params(preset.params)
            # the first epoch pays graph tracing: the last one is the steady state
            result = fit_candidate(space, candidate, data, max_epochs=args.epochs)
            seconds = result.history["epoch_seconds"][-1]
            _log.info(
                "| %s | %s | %s | %d | %.1f | %.0f | %.0f | %s |",
                family,
                preset.name,
                f"{result.param_count:,}",
                candidate.train.batch_size,
                seconds,
                len(data.x_train) / seconds,
                _SHAPES[preset.dataset][1] * 0.9 / (len(data.x_train) / seconds),  # 10% is validation
                "random images" if synthetic else f"{result.val_accuracy:.4f}",
            )


#: shape and training-set size of the built-in data sets, for timing one that is not available
_SHAPES = {"cifar10": ((32, 32, 3), 50_000), "mnist": ((28, 28, 1), 60_000), "fashion_mnist": ((28, 28, 1), 60_000)}


def _random_like(dataset: str, limit: int | None) -> Dataset:
    """Random images with the shape and split sizes of ``dataset`` (10 classes)."""
    shape, size = _SHAPES[dataset]
    n = min(limit or size, size)
    n_val = n // 10
    rng = np.random.default_rng(0)
    images = rng.random((n + 1000, *shape), dtype=np.float32)
    labels = np.arange(n + 1000) % 10
    return Dataset(
        f"{dataset} (random images)",
        tuple(str(k) for k in range(10)),
        images[n_val:n], labels[n_val:n],
        images[:n_val], labels[:n_val],
        images[n:], labels[n:],
    )  # fmt: skip


def _available(dataset: str) -> bool:
    from search.data import DataError

    try:
        load_dataset(dataset, limit=1000)
    except DataError:
        return False
    return True


if __name__ == "__main__":
    main()
