"""What the platform costs per trial, next to a bare Keras script training the same model.

    python benchmarks/overhead.py            # LeNet-5 preset, 20,000 images, 3 epochs, 5 rounds
    python benchmarks/overhead.py --quick    # 5,000 images, 2 epochs, 3 rounds

Each round trains the ``lenet`` preset of document 000 twice, alternating which goes first:

* **bare**: ``space.build_model`` + ``compile`` + ``model.fit`` on the arrays, nothing else;
* **platform**: one trial of ``search.run``'s own trial loop (``run_trials`` with the
  ``Objective``) with that preset enqueued: SQLite study storage, the claim lock, the median
  pruner's callback, per-epoch checkpoints, the MLflow tracker (child run, per-epoch metrics,
  model summary, learning curves), Optuna's artifacts, and the model of a new best trial saved.

The stores and the MLflow parent run are opened once, as one ``search.run`` invocation does, and
that start-up is printed on its own. Prints the median seconds per trial of each and their ratio
(target: at most 1.03).
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import start_tensorflow  # noqa: E402

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

from search.core import setup_logging  # noqa: E402
from search.data import load_dataset, one_hot  # noqa: E402
from search.training import device_description  # noqa: E402
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


class Platform:
    """``search.run``'s trial path, opened once like one invocation: SQLite study storage, the
    median pruner's callback, per-epoch checkpoints, the MLflow tracker and Optuna's artifacts."""

    def __init__(self, limit: int, epochs: int, folder: Path) -> None:
        from search.core import SearchSettings
        from search.execution import make_clock, make_objective, prepare
        from search.storages import ClaimLock
        from search.tracking import observers_for
        from search.trials import ObserverGroup, OptunaArtifacts

        start = time.perf_counter()
        self.settings = SearchSettings(
            family="lenet",
            storage=f"sqlite:///{folder}/optuna.db",
            artifacts=str(folder / "artifacts"),
            tracking_uri=f"sqlite:///{folder}/mlflow.db",
            n_trials=1,
            max_epochs=epochs,
            pruner="median",
            limit=limit,
            seed=0,
            evaluate=False,
        )
        self.prepared = prepare(self.settings)  # the data is already loaded in this process
        self.group = ObserverGroup([OptunaArtifacts(self.prepared.artifact_store), *observers_for(self.settings)])
        self.group.on_search_start(self.prepared.study)  # MLflow: experiment and parent run
        self.objective = make_objective(self.prepared, self.group, make_clock(self.prepared))
        self.lock = ClaimLock(self.settings.storage, self.prepared.study.study_name)
        self.startup_seconds = time.perf_counter() - start

    def trial(self) -> tuple[float, float]:
        """Seconds of one trial of the preset (claim, train, record, log), and of its ``model.fit``."""
        import uuid

        from search.trials import ProgressPrinter, TrialBudget, run_trials

        study = self.prepared.study
        study.enqueue_trial(dict(get_space("lenet").presets[PRESET].params))
        start = time.perf_counter()
        run_trials(study, self.objective, TrialBudget(1, uuid.uuid4().hex), self.lock, callbacks=[ProgressPrinter()])
        seconds = time.perf_counter() - start
        last = study.get_trials(deepcopy=False)[-1]
        return seconds, float(last.user_attrs.get("training_seconds", float("nan")))

    def close(self, wall_seconds: float) -> None:
        """End the invocation as ``search.run`` does (summary, MLflow parent run closed)."""
        from search.execution import finish_search, make_clock

        self.lock.close()
        trials = len(self.prepared.study.get_trials(deepcopy=False))
        finish_search(
            self.prepared, self.group, trials_this_run=trials, wall_seconds=wall_seconds, interrupted=False,
            clock=make_clock(self.prepared),
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 images, 2 epochs, 3 rounds")
    parser.add_argument("--limit", type=int, help="images (default 20,000; quick 5,000)")
    parser.add_argument("--epochs", type=int, help="epochs per training (default 3; quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; quick 3)")
    args = parser.parse_args()
    setup_logging()
    limit, epochs, rounds = (5000, 2, 3) if args.quick else (20000, 3, 5)
    limit, epochs, rounds = args.limit or limit, args.epochs or epochs, args.rounds or rounds
    _log.info("machine: %s, %s, Python %s", platform.machine(), device_description(), platform.python_version())
    _log.info("lenet preset %s, %d images, %d epochs, %d rounds", PRESET, limit, epochs, rounds)
    load_dataset("fashion_mnist", limit=limit, seed=0)  # once per process, like search.run
    bare(limit, 1)  # warm-up: TensorFlow's first graph
    times: dict[str, list[float]] = {"bare": [], "platform": []}
    fit_times: list[float] = []
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ours = Platform(limit, epochs, Path(tmp))
        _log.info("platform start-up, once per invocation (stores, MLflow parent run): %.2f s", ours.startup_seconds)
        for r in range(rounds):
            order = ("bare", "platform") if r % 2 == 0 else ("platform", "bare")
            for which in order:
                if which == "bare":
                    seconds = bare(limit, epochs)
                else:
                    seconds, fit_seconds = ours.trial()
                    fit_times.append(fit_seconds)
                times[which].append(seconds)
                _log.info("round %d %-8s %.2f s", r + 1, which, seconds)
        ours.close(time.perf_counter() - begin)
    b, p = statistics.median(times["bare"]), statistics.median(times["platform"])
    f = statistics.median(fit_times)
    _log.info("median per trial: bare %.2f s, platform %.2f s (its model.fit %.2f s), ratio %.3f (target <= 1.03)",
              b, p, f, p / b)  # fmt: skip


if __name__ == "__main__":
    main()
