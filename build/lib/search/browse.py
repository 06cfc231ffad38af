"""``python -m search.browse``: optuna-dashboard and the MLflow UI together, on the default stores.

The same as running ``python -m search.dashboard`` and ``python -m search.ui`` side by side (same
options; ``--dashboard-port`` and ``--mlflow-port`` pick the ports). Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from search.cli import (
    DASHBOARD_PORT,
    MLFLOW_PORT,
    ArgumentParser,
    add_host_argument,
    add_study_arguments,
    add_tracking_arguments,
    serve_main,
)
from search.servers import DashboardServer, ServeError, Server, mlflow_server

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The command line of ``search.browse``."""
    p = ArgumentParser(
        prog="python -m search.browse",
        description="optuna-dashboard and the MLflow UI on the stores of search.run; Ctrl-C stops both.",
    )
    add_study_arguments(p)
    add_tracking_arguments(p)
    add_host_argument(p)
    p.add_argument("--dashboard-port", type=int, default=DASHBOARD_PORT, help=f"default {DASHBOARD_PORT}")
    p.add_argument("--mlflow-port", type=int, default=MLFLOW_PORT, help=f"default {MLFLOW_PORT}")
    p.add_argument("--verbose", action="store_true", help="log every dashboard request and the MLflow server's log")
    return p


def _servers(args: argparse.Namespace) -> list[Server]:
    if args.dashboard_port == args.mlflow_port:
        raise ServeError(f"--dashboard-port and --mlflow-port must differ, both are {args.mlflow_port}")
    mlflow = mlflow_server(args.tracking_uri, args.artifact_root, args.host, args.mlflow_port, args.verbose)
    board = DashboardServer(args.storage, args.artifacts, args.host, args.dashboard_port)
    return [mlflow, board]  # the MLflow child is started first, while this process has no other thread yet


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 after Ctrl-C, 2 for bad input)."""
    return serve_main(build_parser(), argv, _servers)


if __name__ == "__main__":
    sys.exit(main())
