"""Trials: the objective that trains one sampled candidate, what it records, which models it
keeps, the observers it tells, and the loop every worker runs."""

from search.trials._artifacts import OptunaArtifacts, load_model_artifact
from search.trials._keeper import ModelKeeper
from search.trials._loop import (
    INTERRUPTED_REASON,
    RUN_ATTR,
    WORKER_ATTR,
    ResumeEpoch,
    TrialBudget,
    is_retry,
    run_trials,
)
from search.trials._objective import Objective
from search.trials._observers import ObserverGroup, TrialObserver, TrialOutcome, TrialStart
from search.trials._progress import (
    LiveProgress,
    ProgressPrinter,
    TrialProgress,
    TrialStatus,
    format_value,
    trial_line,
)
from search.trials._records import (
    CANNOT_BE_BUILT,
    MODEL_ARTIFACT_ATTR,
    OBJECTIVES,
    failure_reason,
    record_partial,
    record_result,
)

__all__ = [
    "CANNOT_BE_BUILT",
    "INTERRUPTED_REASON",
    "MODEL_ARTIFACT_ATTR",
    "OBJECTIVES",
    "RUN_ATTR",
    "WORKER_ATTR",
    "LiveProgress",
    "ModelKeeper",
    "Objective",
    "ObserverGroup",
    "OptunaArtifacts",
    "ProgressPrinter",
    "ResumeEpoch",
    "TrialBudget",
    "TrialObserver",
    "TrialOutcome",
    "TrialProgress",
    "TrialStart",
    "TrialStatus",
    "failure_reason",
    "format_value",
    "is_retry",
    "load_model_artifact",
    "record_partial",
    "record_result",
    "run_trials",
    "trial_line",
]
