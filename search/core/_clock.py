"""Time: the clock every time decision asks, and the wall-clock budget of one ``search.run``
invocation (``--timeout``).

Nothing that decides when a trial may train reads :func:`time.monotonic` itself: it asks a
:class:`Clock`. The platform runs on :data:`WALL_CLOCK`; a test (or a simulator of searches)
passes a :class:`VirtualClock` and moves time on by hand, so a budget's decisions can be checked
without waiting for them.

The search and the final training of its best configuration (``--refit``, :mod:`search.final`)
share one budget: the search ends early enough to leave the refit the time it is expected to take,
and a trial still training when the search ends stops then, keeping its best epoch so far. The
instants are named as in :mod:`search.policy`'s rule table: ``start``, ``end`` (the invocation
must be done), ``search_end`` (no trial trains past it) and ``last_start`` (no trial starts at or
after it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["TOO_SLOW", "WALL_CLOCK", "Clock", "SearchClock", "VirtualClock", "WallClock"]

#: how the ``pruned_reason`` of a trial too slow to reach its first rung in the time left begins
TOO_SLOW = "too slow for the time left"


@runtime_checkable
class Clock(Protocol):
    """Where time comes from: seconds on a monotonic scale (only differences mean anything)."""

    def now(self) -> float:
        """The current time, in seconds."""
        ...


class WallClock:
    """The machine's monotonic clock (:func:`time.monotonic`): what the platform runs on."""

    def now(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "WallClock()"


#: the clock of every search, unless a test passes its own
WALL_CLOCK: Clock = WallClock()


@dataclass
class VirtualClock:
    """A clock that moves only when told to (:meth:`advance`): for tests and simulations.

    Args:
        time: the current time, in seconds.
    """

    time: float = 0.0

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> float:
        """Move time on by ``seconds`` (never back, like a monotonic clock); the new time."""
        if seconds < 0 or math.isnan(seconds):
            raise ValueError(f"a clock only moves forward, not by {seconds}")
        self.time += seconds
        return self.time


@dataclass
class SearchClock:
    """When the search ends and when the invocation must be done, in ``clock`` seconds.

    Args:
        timeout: the whole invocation's budget in seconds (None: no limit).
        reserve: seconds to keep at the end, asked each time a trial starts (the expected refit
            time of the best trial so far); None keeps nothing.
        started: when the invocation began (``start``), on ``clock`` (default: now).
        shortest_trial: seconds the quickest trial needs to be worth starting (the fastest
            first rung measured so far), asked each time a trial starts: no trial starts with less
            time left, rather than being built only to be pruned as too slow; None: 0.
        clock: where the time comes from (default: the wall clock).
    """

    timeout: float | None
    reserve: Callable[[], float] | None = None
    started: float = math.nan
    shortest_trial: Callable[[], float] | None = None
    clock: Clock = field(default=WALL_CLOCK)

    def __post_init__(self) -> None:
        if math.isnan(self.started):
            self.started = self.clock.now()

    def now(self) -> float:
        """The current time on this search's clock."""
        return self.clock.now()

    @property
    def end(self) -> float | None:
        """``end``: when the invocation must be done; None without a timeout."""
        return None if self.timeout is None else self.started + self.timeout

    def search_end(self) -> float | None:
        """``search_end``: when the search must end (no trial trains past it): the end, less the
        reserve it needs now."""
        end = self.end
        if end is None:
            return None
        return end - (self.reserve() if self.reserve is not None else 0.0)

    def last_start(self) -> float | None:
        """``last_start``: no trial starts at or after it: the search end, less the time the
        shortest trial needs."""
        end = self.search_end()
        if end is None:
            return None
        return end - (self.shortest_trial() if self.shortest_trial is not None else 0.0)

    def search_over(self) -> bool:
        """No trial may start any more (``last_start`` has come)."""
        last = self.last_start()
        return last is not None and self.clock.now() >= last
