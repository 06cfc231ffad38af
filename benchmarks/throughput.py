"""The training step's throughput ceiling: the platform's ``fit_candidate`` against a bare
``model.fit`` of the same model on the same images, against XLA, by batch size and threads.

    taskset -c 0 python benchmarks/throughput.py                         # lenet and cnn presets, 20,000 images
    python benchmarks/throughput.py --limit 6000 --rounds 3 --threads 1,2  # small; two thread settings

For one preset per family (``lenet`` doc000, ``cnn`` doc002) at each batch size (``--batch-sizes``)
it trains 2 epochs four ways, in the precision ``--precision`` chooses on this machine:

* **platform**: ``fit_candidate``, as a trial trains (the tf.data pipeline, one-hot labels made
  per batch, the platform's callbacks, validation every epoch);
* **bare**: ``model.fit`` on the NumPy arrays with one-hot labels, validation every epoch;
* **platform-xla** and **bare-xla**: the same with the training step compiled by XLA
  (``jit_compile=True``; Keras falls back to no XLA for a model with layers XLA cannot compile,
  such as the random augmentation layers, and warns once).

The figure is the images per second of the last epoch's training part (the first epoch pays graph
tracing; validation is left out). Thread settings (``--threads``) need a fresh process each
(TensorFlow fixes its thread pools at its first operation): every round starts one child process
per setting, in alternating order, and each child runs every configuration once, also in
alternating order. Prints the median images/second per configuration over the rounds, the
platform / bare ratio (the overhead of the training step), and each configuration's ratio to the
best of its model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from search.core import setup_logging, start_tensorflow

_log = logging.getLogger("search.benchmarks")
PRESETS = {"lenet": "doc000_lenet5", "cnn": "doc002_basic_cnn"}
MODES = ("platform", "bare", "platform-xla", "bare-xla")
EPOCHS = 2


def _child(args: argparse.Namespace) -> None:
    """One process with one thread setting: every configuration once; one JSON line each."""
    start_tensorflow()
    import keras

    from search.data import load_dataset, one_hot
    from search.training import (
        EpochTimer,
        configure_precision,
        configure_threads,
        fit_candidate,
        precision_policy,
        prepare_model,
    )
    from spaces import get_space

    configure_threads(args.child_threads)
    configure_precision(args.precision, warn=False)
    data = load_dataset("fashion_mnist", limit=args.limit, seed=0)
    y_train, y_val = one_hot(data.y_train, data.num_classes), one_hot(data.y_val, data.num_classes)
    configs = [(f, b, m) for f in args.families.split(",") for b in args.batch_sizes for m in MODES]
    if args.round % 2:
        configs.reverse()
    for family, batch_size, mode in configs:
        space = get_space(family)
        candidate = space.from_params({**space.presets[PRESETS[family]].params, "batch_size": batch_size})
        timer = EpochTimer()
        model = prepare_model(space, candidate, data, jit=mode.endswith("xla"))
        if mode.startswith("platform"):
            fit_candidate(space, candidate, data, max_epochs=EPOCHS, model=model, callbacks=[timer])
        else:
            model.fit(data.x_train, y_train, validation_data=(data.x_val, y_val), batch_size=batch_size,
                      epochs=min(EPOCHS, candidate.train.epochs), callbacks=[timer], verbose=0)  # fmt: skip
        row = {"family": family, "batch": batch_size, "mode": mode, "threads": args.child_threads,
               "images_per_second": len(data.x_train) / timer.train_seconds[-1], "policy": precision_policy(),
               "xla": bool(getattr(model, "jit_compile", False))}  # fmt: skip
        print(json.dumps(row), flush=True)
        del model
        keras.backend.clear_session()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20000, help="images (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--families", default="lenet,cnn", help="comma-separated, of lenet and cnn (default both)")
    parser.add_argument("--batch-sizes", type=lambda t: [int(b) for b in t.split(",")], default=[64, 128, 256],
                        help="comma-separated (default 64,128,256)")  # fmt: skip
    parser.add_argument("--threads", default="0", help="comma-separated TensorFlow thread settings; 0: TensorFlow's default (default 0)")
    parser.add_argument("--precision", default="auto", help="as search.run's --precision (default auto)")
    parser.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_threads is not None:
        _child(args)
        return
    setup_logging()
    settings = [int(t) for t in args.threads.split(",")]
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    _log.info("machine: %s, %s cores usable, Python %s; %d images, %d rounds, batch sizes %s, threads %s",
              platform.machine(), affinity, platform.python_version(), args.limit, args.rounds,
              args.batch_sizes, settings)  # fmt: skip
    rows: list[dict[str, object]] = []
    for r in range(args.rounds):
        for threads in settings if r % 2 == 0 else settings[::-1]:
            command = [sys.executable, __file__, "--child-threads", str(threads), "--round", str(r),
                       "--limit", str(args.limit), "--families", args.families, "--precision", args.precision,
                       "--batch-sizes", ",".join(map(str, args.batch_sizes))]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    row = json.loads(line)
                    rows.append(row)
                    _log.info("round %d: %s", r + 1, line)
    groups: dict[tuple[object, ...], list[float]] = {}
    for row in rows:
        key = (row["family"], row["batch"], row["threads"], row["mode"], row["policy"], row["xla"])
        groups.setdefault(key, []).append(float(row["images_per_second"]))  # type: ignore[arg-type]
    medians = {k: statistics.median(v) for k, v in groups.items()}
    best = {f: max(v for k, v in medians.items() if k[0] == f) for f in {k[0] for k in medians}}
    _log.info("| model | batch | threads | mode | policy | XLA used | images/s (median) | platform / bare | to the best |")
    _log.info("| --- | ---: | ---: | --- | --- | --- | ---: | ---: | ---: |")
    for key in sorted(medians, key=lambda k: (str(k[0]), int(k[1]), int(k[2]), MODES.index(str(k[3])))):  # type: ignore[call-overload]
        family, batch, threads, mode, policy, xla = key
        ratio = ""
        if str(mode).startswith("platform"):
            bare = medians.get((family, batch, threads, str(mode).replace("platform", "bare"), policy, xla))
            ratio = f"{medians[key] / bare:.2f}" if bare else ""
        _log.info("| %s %s | %s | %s | %s | %s | %s | %.0f | %s | %.2f |", family, PRESETS[str(family)], batch,
                  threads or "default", mode, policy, "yes" if xla else "no", medians[key], ratio,
                  medians[key] / best[family])  # fmt: skip


if __name__ == "__main__":
    main()
