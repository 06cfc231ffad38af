"""Record the learning curves of many configurations of a family, for judging search policies.

    python -m benchmarks.curves.collect --family cnn --configs 400 --limit 6000 --workers 2

trains every preset of the family, then draws of the prior sampler (what ``--sampler prior`` first
proposes around the presets) alternating with uniform draws, each for its full epochs (its own
epoch count, capped by ``--max-epochs``), and records per epoch its validation accuracy and loss,
its training loss, its test accuracy (only to score a search's final model) and its seconds, plus
its multiply-adds, parameters and build failures (:class:`~benchmarks.curves.CurveRecord`). With
``--subset-epochs`` it trains the first epochs again with the first one on the first-epoch subset,
as a search with ``--first-epoch-fraction`` does (only when the training split has at least 10,000
images; smaller splits train every epoch on every image).

The list of configurations is a function of ``--family``, ``--configs`` and ``--seed`` alone, so
the same command resumes a stopped collection: configurations already recorded are skipped.
Records are written one file each under ``<out>.d/`` as they finish and packed into ``<out>``
(gzip-compressed JSON lines) at the end, or by ``--pack``.

A machine-speed probe (:func:`probe`, a second or two) runs before each configuration and is kept
in its record, so that recordings made on machines, days or minutes of different speeds can be
rescaled to one (the simulator does).

Cost: each configuration costs its epochs of training, plus an evaluation of the test split per
epoch, plus ``--subset-epochs`` epochs again. ``--workers N`` runs N processes, each pinned to a
core when ``--pin`` is given (one thread each is this 2-core machine's fastest per image).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.curves._records import CurveRecord, config_id, load_curves, pack, write_pending

__all__ = ["draw_configs", "main", "probe", "record_config"]

_log = logging.getLogger("benchmarks.curves")

#: the probe runs again after this many configurations of a worker: before each, since the load of
#: a shared machine changes within minutes and the simulator rescales each record by its own probe
PROBE_EVERY = 1


def draw_configs(family: str, count: int, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """``count`` configurations of ``family``: its presets first, then prior and uniform draws in
    turn, each as (source, params); the same arguments give the same list.

    The prior draws come from the project's own prior sampler in a study holding no finished
    trial, so they are what a search's sampler proposes around the presets before it has learnt
    anything; the uniform draws from Optuna's random sampler over the same space.
    """
    import optuna

    from search.samplers import make_sampler
    from search.training import space_distributions
    from spaces import TrialParams, UnbuildableError, get_space

    space = get_space(family)
    configs: list[tuple[str, dict[str, Any]]] = [
        (name, dict(preset.params)) for name, preset in space.presets.items()
    ][:count]
    priors = [dict(p.params) for p in space.presets.values()]
    samplers = {
        "prior": make_sampler("prior", seed, priors=priors, search_space=space_distributions(space)),
        "uniform": optuna.samplers.RandomSampler(seed=seed),
    }
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = {name: optuna.create_study(sampler=s, direction="maximize") for name, s in samplers.items()}
    seen = {config_id(family, p) for _, p in configs}
    turn = 0
    while len(configs) < count:
        source = ("prior", "uniform")[turn % 2]
        turn += 1
        study = studies[source]
        trial = study.ask()
        try:
            space.sample(TrialParams(trial))
        except UnbuildableError:
            pass  # recorded as unbuildable, like a search's trial
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # no feedback: every draw from the prior
        params = dict(trial.params)
        key = config_id(family, params)
        if key in seen:
            continue
        seen.add(key)
        configs.append((source, params))
    return configs


def probe(repeats: int = 3) -> float:
    """Seconds this machine takes for a fixed small training workload (the median of ``repeats``):
    a 2-block CNN, 40 batches of 64 random 28x28 images, after one warm-up batch."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((64 * 40, 28, 28, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, len(x)), 10)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.train_on_batch(x[:64], y[:64])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _test_accuracy_callback(data: Any) -> Any:
    import keras
    import numpy as np

    from search.data import EVAL_BATCH_SIZE

    class _TestEveryEpoch(keras.callbacks.Callback):
        """The test split's accuracy after each epoch (kept out of the logs the search sees)."""

        def __init__(self) -> None:
            super().__init__()
            self.accuracy: list[float] = []

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            probs = self.model.predict(data.x_test, batch_size=EVAL_BATCH_SIZE, verbose=0)
            self.accuracy.append(round(float(np.mean(np.argmax(probs, axis=1) == data.y_test)), 5))

    return _TestEveryEpoch()


def _stop_after(epochs: int) -> Any:
    import keras

    class _StopAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch + 1 >= epochs:
                self.model.stop_training = True

    return _StopAfter()


def record_config(
    family: str,
    source: str,
    params: dict[str, Any],
    data: Any,
    *,
    max_epochs: int,
    subset_epochs: int = 0,
    seed: int = 0,
    probe_seconds: float | None = None,
) -> CurveRecord:
    """Train one configuration as a search's trial would, for all its epochs, and record it."""
    import keras

    from search.training import (
        FIRST_EPOCH_FRACTION,
        first_epoch_images,
        fit_candidate,
        multiply_adds,
        prepare_model,
    )
    from spaces import UnbuildableError, get_space

    space = get_space(family)
    record = CurveRecord(
        id=config_id(family, params), family=family, source=source, params=params, status="ok",
        max_epochs=max_epochs, probe_seconds=probe_seconds,
        data={"name": data.name, "train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)},
    )  # fmt: skip
    try:
        candidate = space.from_params(params)
        keras.utils.set_random_seed(seed)
        model = prepare_model(space, candidate, data)
    except (UnbuildableError, ValueError) as exc:
        record.status, record.reason = "unbuildable", str(exc).splitlines()[0][:300]
        return record
    record.param_count = int(model.count_params())
    try:
        record.multiply_adds = int(multiply_adds(model))
    except (AttributeError, TypeError, ValueError):
        record.multiply_adds = None
    record.batch_size = int(candidate.train.batch_size)
    test = _test_accuracy_callback(data)
    try:
        result = fit_candidate(space, candidate, data, max_epochs=max_epochs, callbacks=[test], model=model)
    except Exception as exc:  # noqa: BLE001 - a diverging loss, an out-of-memory: a result too
        record.status, record.reason = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        return record
    history = result.history
    record.epochs = result.epochs_run
    record.val_accuracy = [_finite(v) for v in history.get("val_accuracy", [])]
    record.val_loss = [_finite(v) for v in history.get("val_loss", [])]
    record.train_loss = [_finite(v) for v in history.get("loss", [])]
    record.epoch_seconds = [round(v, 3) for v in history.get("epoch_seconds", [])]
    record.test_accuracy = test.accuracy
    subset = first_epoch_images(len(data.y_train), FIRST_EPOCH_FRACTION)
    epochs = min(candidate.train.epochs, max_epochs)
    if subset_epochs and subset is not None and epochs > 1:
        keras.utils.set_random_seed(seed)
        model = prepare_model(space, candidate, data)
        again = fit_candidate(
            space, candidate, data, max_epochs=max_epochs, callbacks=[_stop_after(subset_epochs)],
            model=model, first_epoch_images=subset, subset_seed=seed,
        )  # fmt: skip
        record.subset_images = subset
        record.subset_val_accuracy = [_finite(v) for v in again.history.get("val_accuracy", [])]
        record.subset_epoch_seconds = [round(v, 3) for v in again.history.get("epoch_seconds", [])]
    return record


def _finite(value: float) -> float:
    return round(float(value), 5) if math.isfinite(value) else float("nan")


def _worker(args: argparse.Namespace, index: int, todo: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Record this worker's share of ``todo`` (every ``workers``-th from ``index``)."""
    if args.pin and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[index % len(cores)]})
    from search.core import setup_logging
    from search.data import load_dataset
    from search.training import configure_threads

    setup_logging(quiet=True)
    configure_threads(args.threads)
    data = load_dataset(args.dataset, limit=args.limit, seed=args.seed)
    mine = list(todo)[index :: args.workers]
    probe_seconds = None
    for n, (source, params) in enumerate(mine):
        if n % PROBE_EVERY == 0:
            probe_seconds = round(probe(), 4)
        start = time.perf_counter()
        record = record_config(
            args.family, source, params, data, max_epochs=args.max_epochs,
            subset_epochs=args.subset_epochs, seed=args.seed, probe_seconds=probe_seconds,
        )  # fmt: skip
        record.data.update({"limit": args.limit, "seed": args.seed})
        write_pending(args.out, record)
        best = max(record.val_accuracy) if record.val_accuracy else float("nan")
        _log.warning(
            "worker %d: %d/%d %s %s %s, %d epochs, best val %.4f, %.0fs",
            index, n + 1, len(mine), record.id, source, record.status, record.epochs, best,
            time.perf_counter() - start,
        )  # fmt: skip
    return len(mine)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.curves.collect", description=__doc__.split("\n\n")[0])
    p.add_argument("--family", required=True, help="the space: cnn, lenet, resnet, rnn, ...")
    p.add_argument("--configs", type=int, default=400, help="configurations in all, presets included (default 400)")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--limit", type=int, help="a stratified subset of this many images (default: all)")
    p.add_argument("--max-epochs", type=int, default=10, help="the epoch cap, as the search's --max-epochs (default 10)")
    p.add_argument("--subset-epochs", type=int, default=2, help="epochs trained again with the first on the first-epoch subset (default 2: the first rung; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws, the data split and every model's weights")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, help="TensorFlow threads per worker (default: the cores / workers)")
    p.add_argument("--pin", action="store_true", help="pin worker k to core k (taskset-like)")
    p.add_argument("--out", type=Path, help="the curve file (default benchmarks/curves/FAMILY.jsonl.gz)")
    p.add_argument("--pack", action="store_true", help="only pack the pending records into --out")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.configs < 1 or args.workers < 1 or args.max_epochs < 1 or args.subset_epochs < 0:
        print("error: --configs, --workers and --max-epochs must be at least 1", file=sys.stderr)
        return 2
    args.out = args.out or Path(__file__).with_name(f"{args.family}.jsonl.gz")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.pack:
        print(f"{args.out}: {pack(args.out)} records")
        return 0
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    done = {r.id for r in load_curves(args.out)}
    configs = draw_configs(args.family, args.configs, args.seed)
    todo = [(s, p) for s, p in configs if config_id(args.family, p) not in done]
    print(f"{args.family}: {len(configs)} configurations, {len(configs) - len(todo)} already recorded, {len(todo)} to go")
    if todo:
        if args.workers == 1:
            _worker(args, 0, todo)
        else:
            ctx = multiprocessing.get_context("spawn")
            procs = [ctx.Process(target=_worker, args=(args, k, todo)) for k in range(args.workers)]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join()
    print(f"{args.out}: {pack(args.out)} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
