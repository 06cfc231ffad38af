"""The errors every layer may raise, at the bottom so that raising one imports nothing else."""

from __future__ import annotations

__all__ = ["StorageError", "UsageError"]


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2, nothing stored."""


class StorageError(Exception):
    """The study storage cannot be opened: malformed URL, unreachable server, unusable file."""
