"""The presets as a prior: random, TPE and PriorSampler (good and bad prior) on synthetic spaces.

    python benchmarks/prior_sampler.py                 # 5 paired seeds, 60 trials
    python benchmarks/prior_sampler.py --trials 100 --seeds 10

No training: two synthetic "validation accuracy" functions shaped like the platform's spaces (a log
learning rate whose best value depends on the optimizer, a categorical optimizer with a momentum
that exists only for SGD, an int number of blocks with one log-int filter count per block, a
stepped dropout, a categorical), so every method can be run on many seeds in seconds:

* ``cnn``: best near Adam, learning rate 1e-3, 3 blocks of 64 filters, dropout 0.3, batch 64;
* ``sgd``: best near SGD with momentum 0.9 and learning rate 3e-2, 2 blocks, swish, 128 units.

Each has a *good* prior (presets near its optimum, as the documents' are for Fashion-MNIST), a
*bad* one (presets in the wrong corner: the sampler must recover through its global draws) and a
*local* one (a preset at a local optimum: the other optimizer, well tuned; the hardest case, since
the incumbent stays near the prior and TPE, fed the local trials, learns that region too).
Methods: Optuna random, the platform's TPE (multivariate, grouped, 8 start-up trials), and
:class:`~search.samplers._prior.PriorSampler` with each prior. Seed k gives every method the same
seed. Prints, per function and method, the median and range over seeds of the best value after
10, 20 and all trials, how many seeds each method is ahead of TPE at the end, and the share of
trials drawn in each mode.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import setup_logging
from search.samplers import MODE_KEY, PriorSampler

_log = logging.getLogger("search.benchmarks")

# --- two synthetic functions ---------------------------------------------------------------------


def cnn(trial: optuna.Trial) -> float:
    """A validation accuracy shaped like the cnn space: best at Adam, learning rate 1e-3, 3 blocks
    of 64 filters, dropout 0.3, batch 64 (0.95); momentum exists only for SGD. The prior sampler's
    tests use it too."""
    lr = trial.suggest_float("learning_rate", 1e-5, 1e-1, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop", "adamw"])
    momentum = trial.suggest_float("momentum", 0.0, 0.99) if optimizer == "sgd" else 0.0
    blocks = trial.suggest_int("n_blocks", 1, 5)
    filters = [trial.suggest_int(f"filters_{i}", 8, 256, log=True) for i in range(blocks)]
    dropout = trial.suggest_float("dropout", 0.0, 0.7, step=0.05)
    batch = trial.suggest_categorical("batch_size", [32, 64, 128, 256])
    acc = 0.95 - 0.02 * (math.log10(lr) + 3) ** 2
    acc -= {"adam": 0.0, "adamw": 0.005, "rmsprop": 0.01, "sgd": 0.03 - 0.02 * momentum}[optimizer]
    acc -= 0.01 * (blocks - 3) ** 2
    acc -= 0.005 * sum((math.log2(f) - 6) ** 2 for f in filters) / blocks
    acc -= 0.1 * (dropout - 0.3) ** 2
    acc -= {32: 0.004, 64: 0.0, 128: 0.002, 256: 0.008}[batch]
    return acc


def sgd(trial: optuna.Trial) -> float:
    """SGD-friendly net: the best learning rate depends on the optimizer; SGD with momentum 0.9 at
    3e-2 beats Adam at its own best 1e-3 by 1.5 points."""
    lr = trial.suggest_float("learning_rate", 1e-5, 1e-1, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop", "adamw"])
    momentum = trial.suggest_float("momentum", 0.0, 0.99) if optimizer == "sgd" else None
    blocks = trial.suggest_int("n_blocks", 1, 4)
    filters = [trial.suggest_int(f"filters_{i}", 8, 256, log=True) for i in range(blocks)]
    activation = trial.suggest_categorical("activation", ["relu", "tanh", "elu", "swish"])
    units = trial.suggest_int("dense_units", 16, 512, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.7, step=0.05)
    best_log_lr = {"sgd": -1.5, "adam": -3.0, "rmsprop": -3.3, "adamw": -2.8}[optimizer]
    acc = 0.92 - 0.015 * (math.log10(lr) - best_log_lr) ** 2
    if momentum is not None:
        acc += 0.015 * (1.0 - ((momentum - 0.9) / 0.9) ** 2)
    acc += {"relu": 0.0, "tanh": -0.01, "elu": 0.003, "swish": 0.005}[activation]
    acc -= 0.008 * (blocks - 2) ** 2
    acc -= 0.003 * sum((math.log2(f) - 5.5) ** 2 for f in filters) / blocks
    acc -= 0.002 * (math.log2(units) - 7) ** 2
    acc -= 0.08 * (dropout - 0.2) ** 2
    return acc


FUNCTIONS: dict[str, Callable[[optuna.Trial], float]] = {"cnn": cnn, "sgd": sgd}

# fmt: off
PRIORS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "cnn": {
        "good": [  # like the documents' CNNs: near the optimum, not on it
            {"learning_rate": 5e-4, "optimizer": "adam", "n_blocks": 3, "filters_0": 32, "filters_1": 64,
             "filters_2": 64, "dropout": 0.25, "batch_size": 64},
            {"learning_rate": 1e-4, "optimizer": "rmsprop", "n_blocks": 2, "filters_0": 32, "filters_1": 64,
             "dropout": 0.4, "batch_size": 128},
        ],
        "bad": [  # the wrong corner: the largest rate, plain SGD, one tiny block, most dropout
            {"learning_rate": 1e-1, "optimizer": "sgd", "momentum": 0.0, "n_blocks": 1, "filters_0": 8,
             "dropout": 0.7, "batch_size": 256},
        ],
        "local": [  # a local optimum: SGD with momentum, tuned for SGD, 1.2 points below the best
            {"learning_rate": 1e-2, "optimizer": "sgd", "momentum": 0.9, "n_blocks": 3, "filters_0": 32,
             "filters_1": 64, "filters_2": 64, "dropout": 0.3, "batch_size": 64},
        ],
    },
    "sgd": {
        "good": [
            {"learning_rate": 1e-2, "optimizer": "sgd", "momentum": 0.9, "n_blocks": 2, "filters_0": 32,
             "filters_1": 64, "activation": "relu", "dense_units": 128, "dropout": 0.25},
            {"learning_rate": 1e-3, "optimizer": "adam", "n_blocks": 3, "filters_0": 32, "filters_1": 32,
             "filters_2": 64, "activation": "relu", "dense_units": 256, "dropout": 0.3},
        ],
        "bad": [  # Adam (no momentum: the conditional parameter is drawn globally) at 1e-5
            {"learning_rate": 1e-5, "optimizer": "adam", "n_blocks": 4, "filters_0": 8, "filters_1": 8,
             "filters_2": 8, "filters_3": 8, "activation": "tanh", "dense_units": 16, "dropout": 0.7},
        ],
        "local": [  # a local optimum: Adam at its own best rate, 1.5 points below SGD's best
            {"learning_rate": 1e-3, "optimizer": "adam", "n_blocks": 2, "filters_0": 32, "filters_1": 64,
             "activation": "relu", "dense_units": 128, "dropout": 0.3},
        ],
    },
}
# fmt: on


def methods(function: str) -> dict[str, Callable[[int], optuna.samplers.BaseSampler]]:
    """The samplers compared on ``function``, each made from a seed."""
    return {
        "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
        # as search.samplers.SAMPLERS["tpe"] (the platform's default sampler)
        "tpe": lambda seed: optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
        ),
        "prior (good)": lambda seed: PriorSampler(PRIORS[function]["good"], seed=seed),
        "prior (bad)": lambda seed: PriorSampler(PRIORS[function]["bad"], seed=seed),
        "prior (local)": lambda seed: PriorSampler(PRIORS[function]["local"], seed=seed),
    }


def run(
    function: str, make: Callable[[int], optuna.samplers.BaseSampler], seed: int, trials: int
) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=make(seed))
    study.optimize(FUNCTIONS[function], n_trials=trials)
    return study


def best_after(study: optuna.Study, n: int) -> float:
    return max(t.value for t in study.trials[:n] if t.value is not None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    setup_logging()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    checkpoints = (10, 20, args.trials)
    for function in FUNCTIONS:
        _log.info("")
        _log.info(
            "%s: %d paired seeds, %d trials; best value, median [min, max] over seeds",
            function,
            args.seeds,
            args.trials,
        )
        _log.info(
            "| method | %s | ahead of TPE at %d | modes (prior/incumbent/global) | s |",
            " | ".join(f"best@{n}" for n in checkpoints),
            args.trials,
        )
        _log.info("|---|%s---:|---|---:|", "---:|" * len(checkpoints))
        finals: dict[str, list[float]] = {}
        for name, make in methods(function).items():
            start = time.perf_counter()
            studies = [run(function, make, seed, args.trials) for seed in range(args.seeds)]
            seconds = time.perf_counter() - start
            cells = []
            for n in checkpoints:
                values = [best_after(s, n) for s in studies]
                cells.append(
                    f"{statistics.median(values):.4f} [{min(values):.4f}, {max(values):.4f}]"
                )
            finals[name] = [best_after(s, args.trials) for s in studies]
            ahead = sum(a > b for a, b in zip(finals[name], finals.get("tpe", finals[name])))
            modes = Counter(t.system_attrs.get(MODE_KEY) for s in studies for t in s.trials)
            total = sum(modes.values())
            share = (
                "/".join(f"{modes[m] / total:.2f}" for m in ("prior", "incumbent", "global"))
                if modes[None] < total
                else "-"
            )
            _log.info(
                "| %s | %s | %s | %s | %.1f |",
                name,
                " | ".join(cells),
                f"{ahead}/{args.seeds}" if name != "tpe" else "-",
                share,
                seconds,
            )


if __name__ == "__main__":
    main()
