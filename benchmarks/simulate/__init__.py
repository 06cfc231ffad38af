"""The search simulator: the platform's own search code on recorded learning curves and a
virtual clock (:mod:`benchmarks.curves` records them).

``python -m benchmarks.simulate`` runs paired seeds of each method in each cell (machine speed x
budget) and prints the verdicts; :func:`simulate_platform` is one search of ``search.run``'s
options, :func:`simulate_optuna_user` one of an Optuna user's script. The names are imported
lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

# Where each public name lives: imported on first use, so that ``python -m benchmarks.simulate
# --help`` (and the report) answer without loading TensorFlow.
_HOMES = {
    "Outcome": "_search",
    "ReplayModel": "_replay",
    "ReplayTrainer": "_replay",
    "Surrogate": "_surrogate",
    "ValidationDraw": "_replay",
    "simulate_keras_tuner": "_search",
    "simulate_optuna_user": "_search",
    "simulate_platform": "_search",
}

__all__ = [
    "Outcome",
    "ReplayModel",
    "ReplayTrainer",
    "Surrogate",
    "ValidationDraw",
    "simulate_keras_tuner",
    "simulate_optuna_user",
    "simulate_platform",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"benchmarks.simulate.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'benchmarks.simulate' has no attribute {name!r}")
