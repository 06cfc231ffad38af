"""Environment variables the platform reads, checked in one place.

The heartbeat interval and grace period of dead-worker detection come from
``$SEARCH_HEARTBEAT_SECONDS`` and ``$SEARCH_GRACE_SECONDS`` (defaults 30 and 90 s), so tests need
not wait minutes. ``$SEARCH_PROGRESS_EPOCH_LINES_AFTER`` (default 60 s) is how long a trial runs
before a log (stdout not a terminal) gets a line per epoch of it.
"""

from __future__ import annotations

import os

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_HEARTBEAT_SECONDS",
    "EPOCH_LINES_AFTER_ENV",
    "EPOCH_LINES_AFTER_SECONDS",
    "GRACE_ENV",
    "HEARTBEAT_ENV",
    "epoch_lines_after",
    "grace_seconds",
    "heartbeat_seconds",
]

HEARTBEAT_ENV = "SEARCH_HEARTBEAT_SECONDS"
GRACE_ENV = "SEARCH_GRACE_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30  # Optuna's own default heartbeat would be 60 s: a dead worker is found sooner
DEFAULT_GRACE_SECONDS = 90  # three missed beats: a busy machine's slow beat is not taken for a death
EPOCH_LINES_AFTER_ENV = "SEARCH_PROGRESS_EPOCH_LINES_AFTER"
#: a trial running longer than this logs a line per epoch when stdout is not a terminal
EPOCH_LINES_AFTER_SECONDS = 60.0


def _positive_int_env(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${name} must be a positive whole number of seconds, not {text!r}")
    return value


def heartbeat_seconds() -> int:
    """How often a running trial shows its worker is alive (``$SEARCH_HEARTBEAT_SECONDS``, 30)."""
    return _positive_int_env(HEARTBEAT_ENV, DEFAULT_HEARTBEAT_SECONDS)


def grace_seconds() -> int:
    """Silence after which a running trial is failed (``$SEARCH_GRACE_SECONDS``, 90)."""
    return _positive_int_env(GRACE_ENV, DEFAULT_GRACE_SECONDS)


def epoch_lines_after() -> float:
    """Seconds a trial runs before a plain log gets a line per epoch of it
    (``$SEARCH_PROGRESS_EPOCH_LINES_AFTER``, 60; 0: every epoch)."""
    text = os.environ.get(EPOCH_LINES_AFTER_ENV, "").strip()
    if not text:
        return EPOCH_LINES_AFTER_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"${EPOCH_LINES_AFTER_ENV} must be 0 or more seconds, not {text!r}")
    return value
