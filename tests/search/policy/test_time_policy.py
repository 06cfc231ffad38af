"""The time policy's rules, each on plain numbers and a virtual clock: no Keras, no waiting.

The time left is read as the objective reads it: the search clock's ``search_end`` less now, on a
:class:`~search.core.VirtualClock` moved on by hand.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import replace

import pytest

from search.core import TOO_SLOW, SearchClock, VirtualClock
from search.policy import (
    DEFAULT_TIME_POLICY,
    CandidatePace,
    Finished,
    Leader,
    TimePolicy,
    TooSlow,
    TrialTime,
)

POLICY = TimePolicy()


def _left(timeout: float, elapsed: float, reserve: float = 0.0) -> float:
    """Seconds to ``search_end`` after ``elapsed`` seconds of a ``timeout`` search keeping ``reserve``."""
    clock = VirtualClock(time=5_000.0)  # any origin: only differences count
    search = SearchClock(timeout, reserve=lambda: reserve, clock=clock)
    clock.advance(elapsed)
    end = search.search_end()
    assert end is not None
    return end - search.now()


def test_the_policy_imports_neither_keras_nor_optuna() -> None:
    import subprocess

    code = "import sys, search.policy; print(sorted(m for m in ('keras', 'tensorflow', 'optuna') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_the_default_policy_holds_the_shares_the_platform_runs_on() -> None:
    p = DEFAULT_TIME_POLICY
    assert (p.share_of_time_left, p.share_before_refit, p.share_going_on) == (0.5, 0.2, 0.5)
    assert p.slower_than_fastest == 2.0
    assert (p.refit_safety, p.max_refit_share, p.min_epoch_share) == (1.25, 0.5, 0.5)


# (id, pace, timeout, elapsed, reserve, finished, user cap, refit, expected cap, expected bound)
CAPS = [
    # ``cap``: half of the time left, or the first rung if that is more
    ("cap", CandidatePace(50.0, 10, 2), 1000.0, 0.0, 0.0, Finished(), None, False, 500.0, None),
    ("cap-later", CandidatePace(50.0, 10, 2), 1000.0, 600.0, 0.0, Finished(), None, False, 200.0, None),
    ("cap-reserve", CandidatePace(50.0, 10, 2), 1000.0, 0.0, 400.0, Finished(), None, False, 300.0, None),
    ("cap-first-rung", CandidatePace(300.0, 10, 2), 1000.0, 0.0, 0.0, Finished(), None, False, 600.0, None),
    # a first epoch on a quarter of the images counts as a quarter of an epoch
    ("cap-short-first", CandidatePace(400.0, 10, 2, first_epoch_share=0.25), 1000.0, 0.0, 0.0, Finished(), None, False, 500.0, None),
    ("cap-short-first-rung", CandidatePace(600.0, 10, 2, first_epoch_share=0.25), 1000.0, 0.0, 0.0, Finished(), None, False, 750.0, None),
    # a resumed trial has fewer epochs to its first rung (at least one)
    ("cap-resumed", CandidatePace(600.0, 10, 2, initial_epoch=1), 1000.0, 0.0, 0.0, Finished(), None, False, 600.0, None),
    # ``cap-before-refit``: a fifth of the time left (the clock keeps the refit's time)
    ("refit", CandidatePace(50.0, 2, 2), 1000.0, 0.0, 0.0, Finished(), None, True, 200.0, 500.0),
    ("refit-reserve", CandidatePace(50.0, 2, 2), 1000.0, 0.0, 500.0, Finished(), None, True, 100.0, 250.0),
    # not much slower than the fastest: its share, even when its first rung is more
    ("refit-fast-enough", CandidatePace(50.0, 2, 2), 400.0, 0.0, 0.0, Finished(30.0), None, True, 100.0, 200.0),
    # ``user-cap``: the user's, whatever the time left; no bound (nothing goes on past it)
    ("user-cap", CandidatePace(50.0, 10, 2), 1000.0, 0.0, 0.0, Finished(), 120.0, True, 120.0, None),
    ("user-cap-no-end", CandidatePace(50.0, 10, 2), None, 0.0, 0.0, Finished(), 120.0, False, 120.0, None),
    ("no-end-no-cap", CandidatePace(50.0, 10, 2), None, 0.0, 0.0, Finished(), None, True, None, None),
]


@pytest.mark.parametrize(
    ("pace", "timeout", "elapsed", "reserve", "finished", "user_cap", "refit", "cap", "bound"),
    [c[1:] for c in CAPS],
    ids=[c[0] for c in CAPS],
)
def test_the_cap_of_a_trial_and_its_bound_on_going_on(
    pace: CandidatePace, timeout: float | None, elapsed: float, reserve: float, finished: Finished,
    user_cap: float | None, refit: bool, cap: float | None, bound: float | None,
) -> None:  # fmt: skip
    left = None if timeout is None else _left(timeout, elapsed, reserve)
    got = POLICY.trial_time(pace, left=left, finished=finished, user_cap=user_cap, refit_follows=refit)
    assert got == TrialTime(pytest.approx(cap) if cap is not None else None, pytest.approx(bound) if bound is not None else None)
    assert POLICY.affordable(pace, left=left, finished=finished, user_cap=user_cap, refit_follows=refit)


# (id, pace, seconds left, finished, user cap, refit, the reason it is pruned)
PRUNED = [
    ("too-slow", CandidatePace(600.0, 2, 2), 120.0, Finished(), None, False, rf"{TOO_SLOW}: about 600 s per epoch"),
    ("too-slow-with-refit", CandidatePace(600.0, 2, 2), 120.0, Finished(5.0), None, True, rf"{TOO_SLOW}: about 600 s per epoch"),
    (
        "user-cap-too-short", CandidatePace(600.0, 2, 2), None, Finished(), 60.0, False,
        r"too slow for the per-trial time budget of 60s: about 600 s per epoch",
    ),
    (
        "slower-than-fastest", CandidatePace(50.0, 2, 2), 400.0, Finished(5.0), None, True,
        rf"{TOO_SLOW}: about 50 s per epoch, 10x the fastest trial's; its first rung needs 100s, more than its share \(80s\)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pace", "left", "finished", "user_cap", "refit", "reason"), [c[1:] for c in PRUNED], ids=[c[0] for c in PRUNED]
)
def test_a_candidate_that_cannot_reach_its_first_rung_in_its_time_is_pruned_and_says_why(
    pace: CandidatePace, left: float | None, finished: Finished, user_cap: float | None, refit: bool, reason: str
) -> None:
    with pytest.raises(TooSlow) as caught:
        POLICY.trial_time(pace, left=left, finished=finished, user_cap=user_cap, refit_follows=refit)
    assert re.fullmatch(reason, str(caught.value)), str(caught.value)
    assert not POLICY.affordable(pace, left=left, finished=finished, user_cap=user_cap, refit_follows=refit)


@pytest.mark.parametrize(
    ("left", "fastest", "refit", "trains"),
    [(400.0, 5.0, True, False), (1000.0, 5.0, True, True), (400.0, None, True, True), (400.0, 5.0, False, True),
     (400.0, 30.0, True, True)],
    ids=["share-too-small", "share-large-enough", "no-pace-measured", "no-refit", "less-than-twice-as-slow"],
)  # fmt: skip
def test_a_much_slower_candidate_trains_with_a_refit_only_if_its_first_rung_fits_its_share(
    left: float, fastest: float | None, refit: bool, trains: bool
) -> None:
    """Its first rung needs 100 s (2 epochs at 50 s); a fifth of 400 s is 80 s, of 1000 s 200 s;
    twice the fastest's first rung is 20 s at 5 s an epoch, 120 s at 30 s."""
    pace = CandidatePace(50.0, 2, 2)
    finished = Finished(fastest=fastest)
    assert POLICY.affordable(pace, left=left, finished=finished, refit_follows=refit) is trains


def test_the_shares_are_the_policys_fields() -> None:
    pace, left = CandidatePace(10.0, 2, 1), 1000.0
    assert TimePolicy(share_of_time_left=0.1).trial_time(pace, left=left) == (100.0, None)
    finished = Finished()
    got = TimePolicy(share_before_refit=0.0, share_going_on=0.3).trial_time(pace, left=left, finished=finished, refit_follows=True)
    assert got == (10.0, 300.0)  # the cap: its first rung alone; the bound: 30 % of the time left
    assert TimePolicy(share_going_on=0.0).trial_time(pace, left=left, finished=finished, refit_follows=True).bound == 10.0


LEADER = Leader(value=1.0, curve={0: 0.0, 1: 0.0, 2: 1.0})  # reached 1.0 only at its third epoch

# (id, accuracy, epochs, leader, refit, goes on)
GOES_ON = [
    ("no-leader-no-refit", 0.5, 2, None, False, True),
    ("no-leader-refit", 0.5, 2, None, True, False),
    ("leads-outright-no-refit", 0.9, 2, Leader(0.8, {0: 0.5, 1: 0.8}), False, True),
    ("leads-outright-with-refit-stops", 0.9, 2, Leader(0.8, {0: 0.5, 1: 0.8}), True, False),
    ("ahead-at-same-epoch", 0.5, 1, LEADER, True, True),
    ("ahead-at-same-epoch-no-refit", 0.5, 2, LEADER, False, True),
    ("as-many-epochs-as-the-leader", 0.5, 3, LEADER, True, False),
    ("behind", 0.5, 1, Leader(1.0, {0: 1.0, 1: 1.0, 2: 1.0}), True, False),
    ("level", 0.0, 1, LEADER, True, False),
    ("no-value-recorded", 0.0, 1, Leader(-1.0, {}), True, False),  # ahead of -1: leads outright
]


@pytest.mark.parametrize(
    ("accuracy", "epochs", "leader", "refit", "goes_on"), [c[1:] for c in GOES_ON], ids=[c[0] for c in GOES_ON]
)
def test_whether_a_trial_past_its_cap_goes_on(
    accuracy: float, epochs: int, leader: Leader | None, refit: bool, goes_on: bool
) -> None:
    assert POLICY.goes_on(accuracy, epochs, leader, refit_follows=refit) is goes_on


def test_the_ablations_turn_off_one_going_on_rule_each() -> None:
    """The simulator's ablation switches: without ``ahead-at-same-epoch`` a trial ahead of the
    leader at the same epoch stops; without ``leader-stops`` a trial leading outright goes on
    even with a refit to follow; every other decision stays."""
    no_fidelity = replace(POLICY, equal_fidelity=False)
    assert POLICY.goes_on(0.5, 1, LEADER, refit_follows=True)
    assert not no_fidelity.goes_on(0.5, 1, LEADER, refit_follows=True)
    assert no_fidelity.goes_on(0.9, 2, None, refit_follows=False)
    leader_goes_on = replace(POLICY, leader_stops_before_refit=False)
    assert not POLICY.goes_on(0.9, 2, Leader(0.8, {0: 0.5, 1: 0.8}), refit_follows=True)
    assert leader_goes_on.goes_on(0.9, 2, Leader(0.8, {0: 0.5, 1: 0.8}), refit_follows=True)
    assert leader_goes_on.goes_on(0.5, 1, LEADER, refit_follows=True)


def test_an_unbounded_going_on_share_leaves_a_spared_trial_no_bound() -> None:
    pace = CandidatePace(per_epoch=10.0, epochs=10, first_rung=2)
    done = Finished(fastest=10.0)
    assert POLICY.trial_time(pace, left=1000.0, finished=done, refit_follows=True).bound == 500.0
    unbounded = replace(POLICY, share_going_on=math.inf)
    assert unbounded.trial_time(pace, left=1000.0, finished=done, refit_follows=True) == (200.0, None)


def test_the_users_cap_spares_no_trial() -> None:
    assert POLICY.spares(None) and not POLICY.spares(600.0)


@pytest.mark.parametrize(
    ("pruner", "objectives", "rung"),
    [("successive-halving", 1, 2), ("hyperband", 1, 2), ("median", 1, 2), ("none", 1, 1), ("hyperband", 2, 1),
     ("unknown", 1, 1)],
)  # fmt: skip
def test_the_first_rung_is_where_the_pruner_first_compares(pruner: str, objectives: int, rung: int) -> None:
    assert POLICY.first_rung(pruner, objectives) == rung


def test_no_trial_starts_once_the_fastest_first_rung_would_not_fit_before_the_search_end() -> None:
    clock = VirtualClock()
    fastest: list[float | None] = [None]  # no pace measured yet: a trial may start until search_end
    search = SearchClock(
        100.0, reserve=lambda: 30.0, clock=clock,
        shortest_trial=lambda: POLICY.first_rung_seconds(fastest[0], 2, first_epoch_share=0.25),
    )  # fmt: skip
    assert search.started == 0.0 and search.end == 100.0 and search.search_end() == 70.0
    assert search.last_start() == 70.0
    fastest[0] = 10.0  # 1.25 epochs of 10 s to its first rung
    assert search.last_start() == pytest.approx(57.5)
    clock.advance(57.0)
    assert not search.search_over()
    clock.advance(0.5)
    assert search.search_over()


@pytest.mark.parametrize(("seconds", "budget", "reserve"), [(100.0, None, 100.0), (100.0, 600.0, 100.0), (400.0, 600.0, 300.0)])
def test_the_refit_reserve_is_at_most_half_of_the_timeout(seconds: float, budget: float | None, reserve: float) -> None:
    assert POLICY.reserve(seconds, budget) == reserve


def test_a_virtual_clock_moves_only_forward() -> None:
    clock = VirtualClock()
    assert clock.advance(1.5) == clock.now() == 1.5
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1.0)
