"""What the ``python -m search.*`` commands share. Imports neither TensorFlow nor Optuna, so that
every command's ``--help`` answers at once."""

from search.cli._parsing import ArgumentParser, add_study_options, duration, fraction, package_version
from search.cli._serving import (
    DASHBOARD_PORT,
    MLFLOW_PORT,
    add_host_argument,
    add_study_arguments,
    add_tracking_arguments,
    serve_main,
)

__all__ = [
    "DASHBOARD_PORT",
    "MLFLOW_PORT",
    "ArgumentParser",
    "add_host_argument",
    "add_study_options",
    "add_study_arguments",
    "add_tracking_arguments",
    "duration",
    "fraction",
    "package_version",
    "serve_main",
]
