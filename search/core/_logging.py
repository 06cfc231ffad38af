"""What every process of the platform shares: one-line errors with exit code 2, and logging set-up.

Commands and worker processes both use these, so they sit at the bottom of the layers."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from search.core._errors import UsageError

__all__ = ["SUMMARY_LOGGER", "exit_on_usage_error", "setup_logging"]

#: the logger of what ``--quiet`` still shows: the summary at the end of a search
SUMMARY_LOGGER = "search.summary"
#: MLflow's and Alembic's loggers: their INFO lines are set-up chatter ("Creating initial MLflow
#: database tables...", "Context impl SQLiteImpl."), their warnings and errors are real
_LIBRARY_LOGGERS = ("absl", "alembic", "huey", "mlflow", "sqlalchemy.engine", "urllib3")

#: the errors of ``spaces`` that mean bad input, not a bug
_SPACE_ERRORS = ("InvalidParamsError", "SpaceError")


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (it may be swapped, e.g. by pytest)."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stdout

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


@contextlib.contextmanager
def exit_on_usage_error(command: str) -> Iterator[None]:
    """Turn a ``UsageError`` (or a space's bad-input error) into one line and exit code 2."""
    try:
        yield
    except Exception as exc:
        if not (isinstance(exc, UsageError) or _space_input_error(exc)):
            raise
        sys.stderr.write(f"{command}: error: {exc}\n")
        raise SystemExit(2) from None


def _space_input_error(exc: Exception) -> bool:
    """Whether ``exc`` is a space's bad-input error (``spaces`` is only asked once it is loaded:
    it imports Keras)."""
    spaces = sys.modules.get("spaces")
    errors = tuple(getattr(spaces, name) for name in _SPACE_ERRORS if hasattr(spaces, name))
    return bool(errors) and isinstance(exc, errors)


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Plain progress lines on stdout for the ``search`` logger; warnings of libraries on stderr.

    MLflow configures its own loggers when it is imported (level INFO, its own stderr handler, no
    propagation), so setting their level before that import is not enough: ``$MLFLOW_LOGGING_LEVEL``
    makes MLflow itself choose WARNING (in this process and the ones it starts), and the levels
    are set here again for a process that imported MLflow already.

    Args:
        verbose: debug lines of the platform too.
        quiet: only warnings, errors and the summary (logger :data:`SUMMARY_LOGGER`).
    """
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import optuna

    # Optuna flags heartbeat, retry and grouped TPE as experimental: chosen on purpose here.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.logging.disable_propagation()
    root = logging.getLogger()
    if not root.handlers:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        err.setLevel(logging.WARNING)
        root.addHandler(err)
    ours = logging.getLogger("search")
    if not any(isinstance(h, _StdoutHandler) for h in ours.handlers):
        out = _StdoutHandler()
        out.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(out)
    ours.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    ours.propagate = False
    # a child's own level decides; its records reach the handlers of "search" whatever its level
    logging.getLogger(SUMMARY_LOGGER).setLevel(logging.INFO)
    for noisy in _LIBRARY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # not WARNING: each model of an ensemble traces its own predict function, which TensorFlow
    # would report as excessive retracing
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
