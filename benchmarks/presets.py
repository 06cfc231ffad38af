"""Seconds per epoch of every preset of every family on this machine.

    python benchmarks/presets.py            # full training split, 2 epochs each; the 2nd is timed
    python benchmarks/presets.py --quick    # 5,000 images

Prints one row per preset: family, preset, parameters, batch size, seconds per epoch, images per
second, and the validation accuracy after that epoch.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search._cli import setup_logging  # noqa: E402
from search._devices import device_description  # noqa: E402
from search._training import fit_candidate  # noqa: E402
from search.data import load_dataset  # noqa: E402
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
    _log.info("| family | preset | params | batch | s/epoch | images/s | val acc |")
    _log.info("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for family, space in FAMILIES.items():
        for preset in space.presets.values():
            data = load_dataset(preset.dataset, limit=limit) if _available(preset.dataset) else None
            if data is None:
                _log.info("| %s | %s | | | data set %s not available here | | |", family, preset.name, preset.dataset)
                continue
            candidate = space.from_params(preset.params)
            # the first epoch pays graph tracing: the last one is the steady state
            result = fit_candidate(space, candidate, data, max_epochs=args.epochs)
            seconds = result.history["epoch_seconds"][-1]
            _log.info(
                "| %s | %s | %s | %d | %.1f | %.0f | %.4f |",
                family,
                preset.name,
                f"{result.param_count:,}",
                candidate.train.batch_size,
                seconds,
                len(data.x_train) / seconds,
                result.val_accuracy,
            )


def _available(dataset: str) -> bool:
    from search.data import DataError

    try:
        load_dataset(dataset, limit=1000)
    except DataError:
        return False
    return True


if __name__ == "__main__":
    main()
