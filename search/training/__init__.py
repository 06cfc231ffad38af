"""Training one model: devices, fitting with validation and time budgets, checkpoints, counting.

Nothing here knows about Optuna's studies or MLflow.
"""

from search.training._checkpoints import Checkpoints, Resume
from search.training._cost import TOO_SLOW, CostObservation, EpochCostModel
from search.training._counting import multiply_adds
from search.training._devices import configure_precision, configure_threads, device_description
from search.training._fit import (
    EpochTimer,
    FinalFit,
    NonFiniteLossError,
    OverBudget,
    TrainResult,
    TrialTimeBudget,
    fit_candidate,
    fit_final,
    prepare_model,
)

__all__ = [
    "TOO_SLOW",
    "Checkpoints",
    "CostObservation",
    "EpochCostModel",
    "EpochTimer",
    "FinalFit",
    "NonFiniteLossError",
    "OverBudget",
    "Resume",
    "TrainResult",
    "TrialTimeBudget",
    "configure_precision",
    "configure_threads",
    "device_description",
    "fit_candidate",
    "fit_final",
    "multiply_adds",
    "prepare_model",
]
