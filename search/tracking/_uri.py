"""Checking the MLflow tracking URI before a search starts, without writing to it."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from search.core import DATABASE_SCHEMES, UsageError, redact, resolve_tracking_uri, sqlite_file

__all__ = ["TRACKING_SCHEMES", "check_tracking_uri"]

#: the schemes of the tracking stores MLflow opens (besides a plain folder path)
TRACKING_SCHEMES = frozenset({"file", "http", "https", "databricks", "databricks-uc", "uc"}) | DATABASE_SCHEMES

#: how long a tracking server may take to answer the check
_PROBE_SECONDS = 5.0


def _source(explicit: str | None) -> str:
    if explicit:
        return "--tracking-uri"
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return "$MLFLOW_TRACKING_URI"
    return "the default tracking URI"


def check_tracking_uri(explicit: str | None) -> str:
    """Check the tracking URI a search would log to (``explicit``, else ``$MLFLOW_TRACKING_URI``,
    else the default): a scheme MLflow knows, a SQLite file whose folder can exist, a tracking
    server that answers. Nothing is created.

    Returns:
        The resolved URI.

    Raises:
        UsageError: one line naming the option or variable and what is wrong.
    """
    uri = resolve_tracking_uri(explicit)
    where, safe = _source(explicit), redact(uri)
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):", uri)
    if match is None or len(match.group(1)) == 1 or match.group(1).lower() == "file":
        _check_file_store_allowed(where, safe)  # a folder path (C: on Windows) or file://
        return uri
    scheme = match.group(1).lower()
    base = scheme.split("+", 1)[0]
    if base not in TRACKING_SCHEMES:
        raise UsageError(
            f"{where} {safe!r}: unknown MLflow tracking scheme {scheme!r} (use e.g. "
            "sqlite:///mlruns/mlflow.db, http://host:5000 or a folder path)"
        )
    if base == "sqlite":
        database = sqlite_file(uri)
        if database is None and uri not in ("sqlite://", "sqlite:///:memory:"):
            raise UsageError(f"{where} {safe!r}: malformed SQLite URL (use sqlite:///path/mlflow.db)")
        if database is not None:
            _check_creatable(where, safe, database)
    elif base in ("http", "https"):
        _probe(where, safe, uri)
    return uri


def _check_file_store_allowed(where: str, safe: str) -> None:
    """MLflow 3 opens a folder store (``./mlruns``, ``file://``) only when
    ``MLFLOW_ALLOW_FILE_STORE`` is true: say so now, not in a traceback after the data loaded."""
    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("true", "1"):
        return
    raise UsageError(
        f"{where} {safe!r}: MLflow keeps runs in a folder only with MLFLOW_ALLOW_FILE_STORE=true "
        "(its file store is in maintenance mode); use a database, e.g. sqlite:///mlruns/mlflow.db"
    )


def _check_creatable(where: str, safe: str, database: Path) -> None:
    """The database file can be made: it is not a folder, and its nearest existing ancestor is."""
    if database.is_dir():
        raise UsageError(f"{where} {safe!r}: {database} is a folder, not a database file")
    for ancestor in database.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UsageError(f"{where} {safe!r}: {ancestor} is a file, not a folder")
            if not os.access(ancestor, os.W_OK | os.X_OK) and not database.exists():
                raise UsageError(f"{where} {safe!r}: cannot create files in {ancestor}")
            return


def _probe(where: str, safe: str, uri: str) -> None:
    """The tracking server answers (any HTTP status: it may want a login)."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=_PROBE_SECONDS):
            return
    except urllib.error.HTTPError:  # it answered
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"{where} {safe!r}: the tracking server does not answer ({reason})") from None
