"""``python -m search.browse``: optuna-dashboard and the MLflow UI together, on the default stores.

The same as running ``python -m search.dashboard`` and ``python -m search.ui`` side by side (same
options; ``--dashboard-port`` and ``--mlflow-port`` pick the ports). Ctrl-C stops both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search import dashboard, ui  # noqa: E402
from search._cli import ArgumentParser, setup_logging  # noqa: E402
from search._paths import DEFAULT_OPTUNA_ARTIFACTS, DEFAULT_STORAGE  # noqa: E402
from search._servers import DashboardServer, ServeError, serve  # noqa: E402

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The command line of ``search.browse``."""
    p = ArgumentParser(
        prog="python -m search.browse",
        description="optuna-dashboard and the MLflow UI on the stores of search.run; Ctrl-C stops both.",
    )
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument(
        "--artifacts",
        default=DEFAULT_OPTUNA_ARTIFACTS,
        help=f"Optuna artifact folder of search.run (default {DEFAULT_OPTUNA_ARTIFACTS})",
    )
    ui.add_tracking_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--dashboard-port", type=int, default=dashboard.DEFAULT_PORT, help=f"default {dashboard.DEFAULT_PORT}")
    p.add_argument("--mlflow-port", type=int, default=ui.DEFAULT_PORT, help=f"default {ui.DEFAULT_PORT}")
    p.add_argument("--verbose", action="store_true", help="log every dashboard request and the MLflow server's log")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 after Ctrl-C, 2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.dashboard_port == args.mlflow_port:
        parser.error(f"--dashboard-port and --mlflow-port must differ, both are {args.mlflow_port}")
    try:
        mlflow = ui.mlflow_server(args.tracking_uri, args.artifact_root, args.host, args.mlflow_port, args.verbose)
        board = DashboardServer(args.storage, args.artifacts, args.host, args.dashboard_port)
        # the MLflow child is started first, while this process has no other thread yet
        return serve([mlflow, board])
    except ServeError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
