"""Where the project keeps its stores by default, in one place for every command.

``search.run`` writes studies to :data:`DEFAULT_STORAGE` (with models as Optuna artifacts under
:data:`DEFAULT_OPTUNA_ARTIFACTS`) and MLflow runs to :data:`DEFAULT_TRACKING_URI` (with their
artifacts under :data:`DEFAULT_ARTIFACT_ROOT`); ``search.dashboard`` and ``search.ui`` open the
same stores. Relative paths are relative to the working directory, as in the commands' options.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DATABASE_SCHEMES",
    "DEFAULT_ARTIFACT_ROOT",
    "DEFAULT_OPTUNA_ARTIFACTS",
    "DEFAULT_STORAGE",
    "DEFAULT_TRACKING_URI",
    "artifact_root_for",
    "redact",
    "resolve_tracking_uri",
    "sqlite_file",
]

#: the Optuna study storage
DEFAULT_STORAGE = "sqlite:///storage/optuna.db"
#: the Optuna artifact store: best models, per-trial learning curves
DEFAULT_OPTUNA_ARTIFACTS = "storage/artifacts"
#: the MLflow tracking store when neither ``--tracking-uri`` nor ``$MLFLOW_TRACKING_URI`` is set
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
#: the folder of MLflow artifacts of experiments created in :data:`DEFAULT_TRACKING_URI`
DEFAULT_ARTIFACT_ROOT = "mlruns/artifacts"

#: tracking URIs that name a database MLflow opens itself (a SQLAlchemy URL's backend)
DATABASE_SCHEMES = frozenset({"sqlite", "postgresql", "mysql", "mssql"})


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and tags."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The MLflow tracking URI: ``explicit``, else ``$MLFLOW_TRACKING_URI``, else the default."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def artifact_root_for(tracking_uri: str) -> str | None:
    """The local folder that holds the artifacts of experiments created in ``tracking_uri``.

    A SQLite store keeps them next to its database file (``<folder>/artifacts``, so the default
    store gives :data:`DEFAULT_ARTIFACT_ROOT`); other databases use :data:`DEFAULT_ARTIFACT_ROOT`.
    A tracking server (``http(s)://``) decides itself: ``None``.

    Args:
        tracking_uri: an MLflow tracking URI, e.g. from :func:`resolve_tracking_uri`.

    Returns:
        A folder path (relative when the URI's database path is), or ``None``.
    """
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in tracking_uri else ""
    if scheme in ("http", "https", "databricks"):
        return None
    database = sqlite_file(tracking_uri) if scheme == "sqlite" else None
    if database is not None:
        return str(database.parent / "artifacts")
    return DEFAULT_ARTIFACT_ROOT


def sqlite_file(url: str) -> Path | None:
    """The database file a SQLite URL names (``sqlite:///storage/optuna.db`` gives
    ``storage/optuna.db``); ``None`` for other databases, in-memory SQLite and malformed URLs."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises ArgumentError, ValueError, ...
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)
