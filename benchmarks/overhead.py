"""What the platform costs per trial, next to a bare Keras script training the same model.

    python benchmarks/overhead.py            # LeNet-5 preset, 20,000 images, 3 epochs, 5 rounds
    python benchmarks/overhead.py --quick    # 5,000 images, 2 epochs, 3 rounds

Each round trains the ``lenet`` preset of document 000 twice, alternating which goes first:

* **bare**: ``space.build_model`` + ``compile`` + ``model.fit`` on the arrays, nothing else;
* **platform**: one trial of ``search.run``'s own path (``run_search``) with that preset enqueued:
  SQLite study storage with heartbeat, the median pruner's callback, per-epoch checkpoints, the
  MLflow tracker (parent and child runs, per-epoch metrics, model summary, learning curves), the
  learning-curve PNG in Optuna's artifact store, and the best model saved.

Prints the median seconds of each and their ratio (target: at most 1.03).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search._cli import setup_logging  # noqa: E402
from search._devices import device_description  # noqa: E402
from search.data import load_dataset, one_hot  # noqa: E402
from spaces import get_space  # noqa: E402

_log = logging.getLogger("search.benchmarks")
PRESET = "doc000_lenet5"


def bare(limit: int, epochs: int) -> float:
    """Seconds for a plain Keras script: build, compile, fit."""
    import keras

    space = get_space("lenet")
    data = load_dataset("fashion_mnist", limit=limit, seed=0)
    candidate = space.from_params(space.presets[PRESET].params)
    start = time.perf_counter()
    keras.backend.clear_session()
    model = space.build_model(candidate, data.x_train.shape[1:], data.num_classes)
    space.compile(model, candidate)
    model.fit(
        data.x_train,
        one_hot(data.y_train, data.num_classes),
        validation_data=(data.x_val, one_hot(data.y_val, data.num_classes)),
        batch_size=candidate.train.batch_size,
        epochs=epochs,
        verbose=0,
    )
    return time.perf_counter() - start


def platform_trial(limit: int, epochs: int, folder: Path) -> float:
    """Seconds for one trial of ``search.run`` with storage, pruning, checkpoints and MLflow."""
    from search._search import SearchSettings, prepare, run_search
    from search.tracking import observers_for

    settings = SearchSettings(
        family="lenet",
        storage=f"sqlite:///{folder}/optuna.db",
        artifacts=str(folder / "artifacts"),
        tracking_uri=f"sqlite:///{folder}/mlruns/mlflow.db",
        n_trials=1,
        max_epochs=epochs,
        pruner="median",
        limit=limit,
        seed=0,
        evaluate=False,
    )
    prepared = prepare(settings)  # opens the stores; the data is already loaded in this process
    params = dict(get_space("lenet").presets[PRESET].params)
    prepared.study.enqueue_trial(params)
    start = time.perf_counter()
    run_search(prepared, observers_for(settings))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 images, 2 epochs, 3 rounds")
    args = parser.parse_args()
    setup_logging()
    limit, epochs, rounds = (5000, 2, 3) if args.quick else (20000, 3, 5)
    _log.info("machine: %s, %s, Python %s", platform.machine(), device_description(), platform.python_version())
    _log.info("lenet preset %s, %d images, %d epochs, %d rounds", PRESET, limit, epochs, rounds)
    load_dataset("fashion_mnist", limit=limit, seed=0)  # once per process, like search.run
    bare(limit, 1)  # warm-up: TensorFlow's first graph
    times: dict[str, list[float]] = {"bare": [], "platform": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = ("bare", "platform") if r % 2 == 0 else ("platform", "bare")
            for which in order:
                if which == "bare":
                    seconds = bare(limit, epochs)
                else:
                    seconds = platform_trial(limit, epochs, Path(tmp) / f"round{r}")
                times[which].append(seconds)
                _log.info("round %d %-8s %.2f s", r + 1, which, seconds)
    b, p = statistics.median(times["bare"]), statistics.median(times["platform"])
    _log.info("median: bare %.2f s, platform %.2f s, ratio %.3f (target <= 1.03)", b, p, p / b)


if __name__ == "__main__":
    main()
