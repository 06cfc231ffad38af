"""``python -m search.dashboard``: optuna-dashboard on the project's study storage.

Shows every study in the storage that ``search.run`` writes (same default and ``--storage``):
trials, their parameters, values and user attributes (the MLflow run of each trial), learning
curves of intermediate values, Optuna's plots, and each trial's artifacts from the Optuna
artifact store (``--artifacts``, as ``search.run``). Stop it with Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search._cli import ArgumentParser, setup_logging  # noqa: E402
from search._paths import DEFAULT_OPTUNA_ARTIFACTS, DEFAULT_STORAGE  # noqa: E402
from search._servers import DashboardServer, ServeError, serve  # noqa: E402

__all__ = ["DEFAULT_PORT", "build_parser", "main"]

#: optuna-dashboard's own default port
DEFAULT_PORT = 8080


def build_parser() -> ArgumentParser:
    """The command line of ``search.dashboard``."""
    p = ArgumentParser(
        prog="python -m search.dashboard",
        description="Browse the Optuna studies of search.run in optuna-dashboard; Ctrl-C stops it.",
    )
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument(
        "--artifacts",
        default=DEFAULT_OPTUNA_ARTIFACTS,
        help=f"Optuna artifact folder of search.run (default {DEFAULT_OPTUNA_ARTIFACTS})",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 after Ctrl-C, 2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    server = DashboardServer(args.storage, args.artifacts, args.host, args.port)
    try:
        return serve([server])
    except ServeError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
