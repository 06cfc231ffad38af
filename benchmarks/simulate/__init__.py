"""The search simulator: the platform's own search code on recorded learning curves and a
virtual clock (:mod:`benchmarks.curves` records them).

``python -m benchmarks.simulate`` runs paired seeds of each method in each cell (machine speed x
budget) and prints the verdicts; :func:`simulate_platform` is one search of ``search.run``'s
options, :func:`simulate_optuna_user` one of an Optuna user's script.
"""

from benchmarks.simulate._replay import ReplayModel, ReplayTrainer, ValidationDraw
from benchmarks.simulate._search import (
    Outcome,
    simulate_keras_tuner,
    simulate_optuna_user,
    simulate_platform,
)
from benchmarks.simulate._surrogate import Surrogate

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
