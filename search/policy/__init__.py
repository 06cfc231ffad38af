"""The time policy: when a candidate may train and for how long, as one set of rules on plain
numbers (:class:`TimePolicy`, whose docstring holds the rule table). It knows nothing of Keras,
Optuna or MLflow; the trials, the search's clock and the refit apply its decisions."""

from search.policy._time import (
    DEFAULT_TIME_POLICY,
    FIRST_RUNG,
    CandidatePace,
    Finished,
    Leader,
    TimePolicy,
    TooSlow,
    TrialTime,
)

__all__ = [
    "DEFAULT_TIME_POLICY",
    "FIRST_RUNG",
    "CandidatePace",
    "Finished",
    "Leader",
    "TimePolicy",
    "TooSlow",
    "TrialTime",
]
