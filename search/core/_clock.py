"""The wall-clock budget of one ``search.run`` invocation (``--timeout``).

The search and the final training of its best configuration (``--refit``, :mod:`search.final`)
share one budget: the search ends early enough to leave the refit the time it is expected to take,
and a trial still training when the search ends stops then, keeping its best epoch so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SearchClock"]


@dataclass
class SearchClock:
    """When the search ends and when the invocation must be done, in ``time.monotonic`` seconds.

    Args:
        timeout: the whole invocation's budget in seconds (None: no limit).
        reserve: seconds to keep at the end, asked each time a trial starts (the expected refit
            time of the best trial so far); None keeps nothing.
        shortest_trial: seconds the quickest trial needs to be worth starting (the fastest
            first rung measured so far), asked each time a trial starts: no trial starts with less
            time left, rather than being built only to be pruned as too slow; None: 0.
    """

    timeout: float | None
    reserve: Callable[[], float] | None = None
    started: float = field(default_factory=time.monotonic)
    shortest_trial: Callable[[], float] | None = None

    @property
    def end(self) -> float | None:
        """When the invocation must be done; None without a timeout."""
        return None if self.timeout is None else self.started + self.timeout

    def search_end(self) -> float | None:
        """When the search must end: the end, less the reserve it needs now."""
        end = self.end
        if end is None:
            return None
        return end - (self.reserve() if self.reserve is not None else 0.0)

    def search_over(self) -> bool:
        """No trial may start any more."""
        end = self.search_end()
        if end is None:
            return False
        return time.monotonic() >= end - (self.shortest_trial() if self.shortest_trial is not None else 0.0)
