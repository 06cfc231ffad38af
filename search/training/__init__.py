"""Training one model: devices, fitting with validation and time budgets, checkpoints, counting.

Nothing here knows about Optuna's studies and trials or MLflow: what training learns of earlier
trials (the cost model's paces) it reads from their :class:`~search.records.TrialRecord`, and a
trial it checkpoints is duck-typed. Only :func:`space_distributions` speaks Optuna, describing a
space as Optuna's distributions.
"""

from search.training._buildable import buildable, space_distributions
from search.training._checkpoints import Checkpoints, Resume
from search.training._cost import TOO_SLOW, CostObservation, EpochCostModel, fastest_pace
from search.training._counting import multiply_adds
from search.training._deadline import StopAt
from search.training._devices import (
    PrecisionError,
    choose_policy,
    configure_precision,
    configure_threads,
    cpu_flags,
    device_description,
    float32_copy,
    native_bfloat16,
    precision_policy,
    use_precision,
)
from search.training._fit import (
    FIRST_EPOCH_FRACTION,
    FIRST_EPOCH_MIN_IMAGES,
    EpochTimer,
    FinalFit,
    NonFiniteLossError,
    OverBudget,
    TrainResult,
    TrialTimeBudget,
    first_epoch_images,
    fit_candidate,
    fit_final,
    prepare_model,
)
from search.training._trainer import KERAS_TRAINER, KerasTrainer, Trainer

__all__ = [
    "FIRST_EPOCH_FRACTION",
    "FIRST_EPOCH_MIN_IMAGES",
    "KERAS_TRAINER",
    "TOO_SLOW",
    "Checkpoints",
    "CostObservation",
    "EpochCostModel",
    "EpochTimer",
    "FinalFit",
    "KerasTrainer",
    "NonFiniteLossError",
    "OverBudget",
    "PrecisionError",
    "Resume",
    "StopAt",
    "TrainResult",
    "Trainer",
    "TrialTimeBudget",
    "buildable",
    "choose_policy",
    "configure_precision",
    "configure_threads",
    "cpu_flags",
    "device_description",
    "fastest_pace",
    "first_epoch_images",
    "fit_candidate",
    "fit_final",
    "float32_copy",
    "multiply_adds",
    "native_bfloat16",
    "precision_policy",
    "prepare_model",
    "space_distributions",
    "use_precision",
]
