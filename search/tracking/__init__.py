"""MLflow tracking of searches: one experiment per study, a parent run per invocation, a child
run per trial, the final model registered under the study's name. All MLflow code of the platform
lives in this package.

>>> from search.tracking import observers_for
>>> observers = observers_for(settings, data=prepared.data)  # doctest: +SKIP  (empty with --no-mlflow)
"""

from search.tracking._datasets import CONTEXTS, dataset_inputs, digest
from search.tracking._models import (
    CHAMPION_ALIAS,
    MODEL_NAME,
    RegisteredModel,
    load_registered_model,
    log_final_model,
)
from search.tracking._runs import MLFLOW_RUN_ATTR, TrialRunCloser, metric_histories
from search.tracking._tracker import (
    PARENT_RUN_ENV,
    SYSTEM_METRICS_SECONDS,
    MlflowTracker,
    log_report,
    observers_for,
    open_experiment,
)
from search.tracking._uri import TRACKING_SCHEMES, check_tracking_uri

__all__ = [
    "CHAMPION_ALIAS",
    "CONTEXTS",
    "MLFLOW_RUN_ATTR",
    "MODEL_NAME",
    "PARENT_RUN_ENV",
    "SYSTEM_METRICS_SECONDS",
    "TRACKING_SCHEMES",
    "MlflowTracker",
    "RegisteredModel",
    "TrialRunCloser",
    "metric_histories",
    "check_tracking_uri",
    "dataset_inputs",
    "digest",
    "load_registered_model",
    "log_final_model",
    "log_report",
    "observers_for",
    "open_experiment",
]
