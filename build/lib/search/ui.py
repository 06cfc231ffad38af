"""``python -m search.ui``: the MLflow UI on the project's tracking store.

Starts ``mlflow server`` on the store ``search.run`` logs to (``--tracking-uri``, else
``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns/mlflow.db``), with the artifacts of new
experiments in the folder the tracker uses (``mlruns/artifacts`` beside the default database).
One experiment per study, one run per trial: compare their parameters, metrics and learning
curves side by side. Stop it with Ctrl-C; the server's processes stop with it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from search.cli import (
    MLFLOW_PORT,
    ArgumentParser,
    add_host_argument,
    add_tracking_arguments,
    serve_main,
)
from search.servers import mlflow_server

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The command line of ``search.ui``."""
    p = ArgumentParser(
        prog="python -m search.ui",
        description="Browse the MLflow runs of search.run in the MLflow UI; Ctrl-C stops it.",
    )
    add_tracking_arguments(p)
    add_host_argument(p)
    p.add_argument("--port", type=int, default=MLFLOW_PORT, help=f"port to listen on (default {MLFLOW_PORT})")
    p.add_argument("--verbose", action="store_true", help="show the MLflow server's own log")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 after Ctrl-C, 2 for bad input)."""
    return serve_main(
        build_parser(),
        argv,
        lambda a: [mlflow_server(a.tracking_uri, a.artifact_root, a.host, a.port, a.verbose)],
    )


if __name__ == "__main__":
    sys.exit(main())
