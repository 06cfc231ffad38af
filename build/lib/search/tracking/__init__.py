"""MLflow tracking of searches: one experiment per study, a parent run per invocation, a child
run per trial. All MLflow logging of the platform lives in this package.

>>> from search.tracking import observers_for
>>> observers = observers_for(settings)  # doctest: +SKIP  (empty with --no-mlflow)
"""

from search.tracking._runs import MLFLOW_RUN_ATTR, TrialRunCloser
from search.tracking._tracker import (
    PARENT_RUN_ENV,
    MlflowTracker,
    log_report,
    observers_for,
    open_experiment,
)

__all__ = [
    "MLFLOW_RUN_ATTR",
    "PARENT_RUN_ENV",
    "MlflowTracker",
    "TrialRunCloser",
    "log_report",
    "observers_for",
    "open_experiment",
]
