"""``python -m search.dashboard``: optuna-dashboard on the project's study storage.

Shows every study in the storage that ``search.run`` writes (same default and ``--storage``):
trials, their parameters, values and user attributes (the MLflow run of each trial), learning
curves of intermediate values, Optuna's plots, and each trial's artifacts from the Optuna
artifact store (``--artifacts``, as ``search.run``). Stop it with Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from search.cli import (
    DASHBOARD_PORT,
    ArgumentParser,
    add_host_argument,
    add_study_arguments,
    serve_main,
)
from search.servers import DashboardServer

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The command line of ``search.dashboard``."""
    p = ArgumentParser(
        prog="python -m search.dashboard",
        description="Browse the Optuna studies of search.run in optuna-dashboard; Ctrl-C stops it.",
    )
    add_study_arguments(p)
    add_host_argument(p)
    p.add_argument("--port", type=int, default=DASHBOARD_PORT, help=f"port to listen on (default {DASHBOARD_PORT})")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 after Ctrl-C, 2 for bad input)."""
    return serve_main(
        build_parser(), argv, lambda a: [DashboardServer(a.storage, a.artifacts, a.host, a.port)]
    )


if __name__ == "__main__":
    sys.exit(main())
