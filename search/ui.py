"""``python -m search.ui``: the MLflow UI on the project's tracking store.

Starts ``mlflow server`` on the store ``search.run`` logs to (``--tracking-uri``, else
``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns/mlflow.db``), with the artifacts of new
experiments in the folder the tracker uses (``mlruns/artifacts`` beside the default database).
One experiment per study, one run per trial: compare their parameters, metrics and learning
curves side by side. Stop it with Ctrl-C; the server's processes stop with it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search._cli import ArgumentParser, setup_logging  # noqa: E402
from search._paths import (  # noqa: E402
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_TRACKING_URI,
    artifact_root_for,
    resolve_tracking_uri,
)
from search._servers import MlflowServer, ServeError, serve  # noqa: E402

__all__ = ["DEFAULT_PORT", "add_tracking_arguments", "build_parser", "main", "mlflow_server"]

#: MLflow's own default port
DEFAULT_PORT = 5000


def add_tracking_arguments(p: ArgumentParser) -> None:
    """``--tracking-uri`` and ``--artifact-root``, as ``search.ui`` and ``search.browse`` take them."""
    p.add_argument(
        "--tracking-uri",
        help=f"MLflow tracking store (default $MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI})",
    )
    p.add_argument(
        "--artifact-root",
        help="folder for artifacts of experiments created through the UI "
        f"(default: artifacts/ beside a SQLite store, else {DEFAULT_ARTIFACT_ROOT})",
    )


def mlflow_server(tracking_uri: str | None, artifact_root: str | None, host: str, port: int, verbose: bool) -> MlflowServer:
    """An :class:`~search._servers.MlflowServer` on the store ``search.run`` would log to.

    Raises:
        ServeError: the tracking URI is a server already (nothing to start).
    """
    uri = resolve_tracking_uri(tracking_uri)
    root = artifact_root or artifact_root_for(uri)
    if root is None:
        raise ServeError(f"tracking URI {uri} is an MLflow server already: open it in a browser")
    return MlflowServer(uri, root, host, port, verbose=verbose)


def build_parser() -> ArgumentParser:
    """The command line of ``search.ui``."""
    p = ArgumentParser(
        prog="python -m search.ui",
        description="Browse the MLflow runs of search.run in the MLflow UI; Ctrl-C stops it.",
    )
    add_tracking_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument("--verbose", action="store_true", help="show the MLflow server's own log")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 after Ctrl-C, 2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        server = mlflow_server(args.tracking_uri, args.artifact_root, args.host, args.port, args.verbose)
        return serve([server])
    except ServeError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
