"""What the commands' parsers share: one-line errors and durations."""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Any, NoReturn

from search.core import ENGINES, TUNER_NAMES

__all__ = ["ArgumentParser", "add_study_options", "duration", "fraction", "package_version"]


def package_version() -> str:
    """The installed version of the platform (``keras-hpsearch``), or ``unknown`` in a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keras-hpsearch")
    except PackageNotFoundError:
        return "unknown"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit code 2 (no usage dump); every
    command answers ``--version``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``20m`` or ``2h``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 600, 20m or 2h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def fraction(text: str) -> float:
    """A share above 0 and at most 1, e.g. ``0.25`` (``--first-epoch-fraction``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"invalid fraction {text!r} (use a number above 0 and at most 1, e.g. 0.25)")
    return value


def add_study_options(p: ArgumentParser, *, required: bool = True) -> None:
    """``--study`` or ``--space``, ``--dataset``, ``--study-name``, ``--engine``, ``--tuner``: the
    options that name a study, read the same way by every command that reads one back."""
    which = p.add_mutually_exclusive_group(required=required)
    which.add_argument("--study", metavar="FAMILY", help="the family searched (names the study)")
    which.add_argument("--space", metavar="SPEC", help="or your own space, as given to search.run --space")
    p.add_argument("--dataset", help="its data set (default: the family's)")
    p.add_argument("--study-name", help="default: FAMILY-DATASET, as search.run names it")
    p.add_argument("--engine", choices=ENGINES, default="optuna", help="the engine that searched (default optuna)")
    p.add_argument("--tuner", choices=TUNER_NAMES, default="hyperband", help="keras-tuner's algorithm, with --engine keras-tuner")
