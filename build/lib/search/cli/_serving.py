"""What the three UI commands (``search.dashboard``, ``search.ui``, ``search.browse``) share:
their options and their ``main``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from search.cli._parsing import ArgumentParser
from search.core import (
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_OPTUNA_ARTIFACTS,
    DEFAULT_STORAGE,
    DEFAULT_TRACKING_URI,
    setup_logging,
)
from search.servers import ServeError, Server, serve

__all__ = [
    "DASHBOARD_PORT",
    "MLFLOW_PORT",
    "add_host_argument",
    "add_study_arguments",
    "add_tracking_arguments",
    "serve_main",
]

#: optuna-dashboard's own default port
DASHBOARD_PORT = 8080
#: MLflow's own default port
MLFLOW_PORT = 5000


def add_study_arguments(p: ArgumentParser) -> None:
    """``--storage`` and ``--artifacts``, the Optuna stores ``search.run`` writes."""
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument(
        "--artifacts",
        default=DEFAULT_OPTUNA_ARTIFACTS,
        help=f"Optuna artifact folder of search.run (default {DEFAULT_OPTUNA_ARTIFACTS})",
    )


def add_tracking_arguments(p: ArgumentParser) -> None:
    """``--tracking-uri`` and ``--artifact-root``, the MLflow store ``search.run`` logs to."""
    p.add_argument(
        "--tracking-uri",
        help=f"MLflow tracking store (default $MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI})",
    )
    p.add_argument(
        "--artifact-root",
        help="folder for artifacts of experiments created through the UI "
        f"(default: artifacts/ beside a SQLite store, else {DEFAULT_ARTIFACT_ROOT})",
    )


def add_host_argument(p: ArgumentParser) -> None:
    """``--host``: this machine only unless asked."""
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")


def serve_main(
    parser: ArgumentParser,
    argv: Sequence[str] | None,
    servers: Callable[[argparse.Namespace], Sequence[Server]],
) -> int:
    """Parse ``argv``, start ``servers(args)`` and serve until Ctrl-C.

    Returns:
        The exit code: 0 after Ctrl-C; a bad option or a server that cannot start is one line on
        stderr and exit code 2.
    """
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return serve(servers(args))
    except ServeError as exc:
        parser.error(str(exc))
