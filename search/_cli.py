"""What every ``python -m search.*`` command shares: one-line errors, exit code 2, logging set-up."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import NoReturn

__all__ = ["ArgumentParser", "exit_on_usage_error", "setup_logging"]


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (it may be swapped, e.g. by pytest)."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stdout

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


@contextlib.contextmanager
def exit_on_usage_error(command: str) -> Iterator[None]:
    """Turn a ``UsageError`` (or a bad-input ``ValueError`` from a space) into one line and exit 2."""
    from search._search import UsageError
    from spaces import InvalidParamsError

    try:
        yield
    except (UsageError, InvalidParamsError) as exc:
        sys.stderr.write(f"{command}: error: {exc}\n")
        raise SystemExit(2) from None


def setup_logging(verbose: bool = False) -> None:
    """Plain progress lines on stdout for the ``search`` logger; warnings of libraries on stderr."""
    import warnings

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
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    ours.propagate = False
    for noisy in ("absl", "alembic", "mlflow", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # not WARNING: each model of an ensemble traces its own predict function, which TensorFlow
    # would report as excessive retracing
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
