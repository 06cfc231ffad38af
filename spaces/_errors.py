"""Errors in a user's space, told in one line that names the user's file and line.

Two kinds, by when they happen:

* :class:`SpaceError` (a ``ValueError``): the space cannot be used at all — its module does not
  import, the name is missing, its default point does not build or does not fit the data. Raised
  by :func:`spaces.load_space`, :func:`spaces.get_space` and :func:`spaces.check` before any trial
  exists; a command prints it and exits with status 2.
* :class:`UserBuildError` (a ``RuntimeError``): the user's ``build(hp)`` failed for one sampled
  point. Raised by :meth:`Space.build_model` inside a trial, which fails with the reason while the
  search goes on.
"""

from __future__ import annotations

import os
import re
import sysconfig
import traceback
from pathlib import Path

__all__ = ["SpaceError", "UserBuildError", "display_path", "one_line", "user_location"]

_SPACES_DIR = Path(__file__).resolve().parent
_LIBRARY_DIRS = tuple(
    Path(p).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))
)  # fmt: skip


class SpaceError(ValueError):
    """A user's space cannot be used; the message is one line naming the user's file (and line)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class UserBuildError(RuntimeError):
    """A user's ``build(hp)`` failed for one point of its space: ``file:line: what happened``."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: object) -> str:
    """``text`` with its line breaks (and the blanks around them) folded into single spaces."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(text)).strip()


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working folder when it lies inside it, else absolute."""
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _is_library(filename: str) -> bool:
    """Whether ``filename`` belongs to Python, an installed package or this package."""
    if filename.startswith("<"):
        return True
    path = Path(filename).resolve()
    return path.is_relative_to(_SPACES_DIR) or any(path.is_relative_to(d) for d in _LIBRARY_DIRS)


def user_location(
    exc: BaseException, user_file: str | os.PathLike[str] | None, fallback: str
) -> str:
    """``file:line`` in the user's code where ``exc`` happened.

    Args:
        exc: the exception, with its traceback.
        user_file: the file the space comes from; its innermost frame is preferred.
        fallback: what to return when no frame is the user's (e.g. the build function's ``def``).

    Returns:
        The innermost frame in ``user_file``; else the innermost frame outside Python, installed
        packages and this package; else ``fallback``. A ``SyntaxError`` names its own line.
    """
    if isinstance(exc, SyntaxError) and exc.filename and not exc.filename.startswith("<"):
        return f"{display_path(exc.filename)}:{exc.lineno or 0}"
    frames = traceback.extract_tb(exc.__traceback__)
    if user_file is not None:
        target = Path(user_file).resolve()
        for frame in reversed(frames):
            if not frame.filename.startswith("<") and Path(frame.filename).resolve() == target:
                return f"{display_path(frame.filename)}:{frame.lineno}"
    for frame in reversed(frames):
        if not _is_library(frame.filename):
            return f"{display_path(frame.filename)}:{frame.lineno}"
    return fallback
