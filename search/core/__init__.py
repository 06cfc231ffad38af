"""The bottom layer: errors, the user's settings, default paths, environment knobs, the clock,
logging and TensorFlow start-up. It imports nothing else of the platform."""

from search.core._clock import SearchClock
from search.core._env import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HEARTBEAT_SECONDS,
    EPOCH_LINES_AFTER_ENV,
    EPOCH_LINES_AFTER_SECONDS,
    GRACE_ENV,
    HEARTBEAT_ENV,
    epoch_lines_after,
    grace_seconds,
    heartbeat_seconds,
)
from search.core._errors import StorageError, UsageError
from search.core._logging import SUMMARY_LOGGER, exit_on_usage_error, setup_logging
from search.core._paths import (
    DATABASE_SCHEMES,
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_OPTUNA_ARTIFACTS,
    DEFAULT_STORAGE,
    DEFAULT_TRACKING_URI,
    artifact_root_for,
    redact,
    resolve_tracking_uri,
    sqlite_file,
)
from search.core._quiet import KNOWN_START_UP_LINES, start_tensorflow
from search.core._settings import (
    ENGINES,
    MADE_IN_SESSION,
    OBJECTIVE_NAMES,
    PRECISIONS,
    PRUNER_NAMES,
    SAMPLER_NAMES,
    TUNER_NAMES,
    SearchSettings,
    study_name,
)

__all__ = [
    "DATABASE_SCHEMES",
    "DEFAULT_ARTIFACT_ROOT",
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEFAULT_OPTUNA_ARTIFACTS",
    "DEFAULT_STORAGE",
    "DEFAULT_TRACKING_URI",
    "ENGINES",
    "MADE_IN_SESSION",
    "EPOCH_LINES_AFTER_ENV",
    "EPOCH_LINES_AFTER_SECONDS",
    "GRACE_ENV",
    "HEARTBEAT_ENV",
    "KNOWN_START_UP_LINES",
    "OBJECTIVE_NAMES",
    "PRECISIONS",
    "PRUNER_NAMES",
    "SAMPLER_NAMES",
    "SUMMARY_LOGGER",
    "TUNER_NAMES",
    "SearchClock",
    "SearchSettings",
    "StorageError",
    "UsageError",
    "artifact_root_for",
    "epoch_lines_after",
    "exit_on_usage_error",
    "grace_seconds",
    "heartbeat_seconds",
    "redact",
    "resolve_tracking_uri",
    "setup_logging",
    "sqlite_file",
    "start_tensorflow",
    "study_name",
]
