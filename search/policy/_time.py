"""The time policy: when a candidate may train, and for how long.

Every share, cap and bound the platform applies to time is a field of :class:`TimePolicy`, and
every decision made from them is one of its methods, on plain numbers: the predicted seconds per
epoch of a candidate, the time left on the clock, what the finished trials measured. The callers
(the objective, the trial time budget, the search's clock, the refit) read the clock and the
study and act on the decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from search.core import TOO_SLOW

__all__ = [
    "DEFAULT_TIME_POLICY",
    "FIRST_RUNG",
    "CandidatePace",
    "Finished",
    "Leader",
    "TimePolicy",
    "TooSlow",
    "TrialTime",
]

#: the epoch at which each pruner first compares a trial (Optuna's steps are 0-based epochs:
#: successive halving and Hyperband with ``min_resource=1`` first judge step 1, the median pruner
#: warms up for one step); a trial must be able to train this far in the time it has
FIRST_RUNG: Mapping[str, int] = MappingProxyType(
    {"successive-halving": 2, "hyperband": 2, "median": 2, "none": 1}
)


class TooSlow(Exception):
    """A candidate cannot reach its first rung in the time it would have; the message says why
    (the trial's ``pruned_reason``)."""


class TrialTime(NamedTuple):
    """How long a trial may train, in seconds from ``trial_start``."""

    cap: float | None  # ``trial_cap``: past it the trial stops unless spared (None: no cap)
    bound: float | None  # ``trial_bound``: a spared trial starts no epoch ending past it


@dataclass(frozen=True)
class CandidatePace:
    """What a candidate's time rests on.

    Args:
        per_epoch: its predicted seconds per epoch on every training image.
        epochs: the epochs it plans.
        first_rung: the epochs it must reach in time (at most ``epochs``).
        initial_epoch: epochs trained before (a retried trial resuming from a checkpoint).
        first_epoch_share: its first epoch's share of the training images (1: all of them).
    """

    per_epoch: float
    epochs: int
    first_rung: int
    initial_epoch: int = 0
    first_epoch_share: float = 1.0

    @property
    def rung_epochs(self) -> float:
        """The epochs still to train to its first rung (at least one), a first epoch on a subset
        counting as that share of an epoch (its validation, on the whole split, left out: the
        prediction errs on the fast side, like the cost model's prior)."""
        return float(max(self.first_rung - self.initial_epoch, 1)) - (1.0 - self.first_epoch_share)

    @property
    def needed(self) -> float:
        """Predicted seconds to its first rung."""
        return self.per_epoch * self.rung_epochs


@dataclass(frozen=True)
class Finished:
    """What the policy reads of the study's finished trials."""

    fastest: float | None = None  # the fewest seconds per epoch a trial measured (None: none yet)


@dataclass(frozen=True)
class Leader:
    """The best complete trial so far, as the rules on going on past a cap read it."""

    value: float  # its best validation accuracy
    #: its reports, one per epoch: step (the 0-based epoch) -> validation accuracy
    curve: Mapping[int, float] = field(default_factory=dict)

    def best_within(self, epochs: int) -> float:
        """Its best accuracy after ``epochs`` epochs (inf: it reported none that early)."""
        return max((v for step, v in self.curve.items() if step < epochs), default=math.inf)


@dataclass(frozen=True)
class TimePolicy:
    """Every share, cap and bound on time, and the decisions made from them.

    The instants, each with one name (times on the search's :class:`~search.core.Clock`):

    ===============  ==============================================================================
    instant          what it is
    ===============  ==============================================================================
    ``start``        the invocation began (:attr:`~search.core.SearchClock.started`)
    ``end``          the invocation must be done: ``start`` + ``--timeout``
    ``search_end``   no trial trains past it: ``end`` less the reserve (refit, cross-validation)
    ``last_start``   no trial starts at or after it: ``search_end`` less the fastest first rung
    ``trial_start``  a trial began training; its cap and its bound count from it
    ``trial_cap``    ``trial_start`` + its cap: past it the trial stops, unless spared
    ``trial_bound``  ``trial_start`` + its bound: a spared trial starts no epoch ending past it
    ``folds_end``    ``end`` less the refit's time: no cross-validation fold trains past it
    ===============  ==============================================================================

    "Time left" is ``search_end`` less now, when the trial's model is built; "its first rung" is
    the predicted seconds to it (:attr:`CandidatePace.needed`).

    The rules, one a row:

    ===================  ==================  ==================================  ===================
    rule                 applies when        decides                             parameter
    ===================  ==================  ==================================  ===================
    first-rung           every trial         the epochs it must be able to       first_rungs
                                             reach in the time it has
    last-start           before a trial      none starts at or after last_start  (measured)
                         starts
    user-cap             --trial-timeout     trial_cap of every trial, even      (the user's)
                                             before its first rung; pruned if
                                             its first rung would not fit in it
    too-slow             built, before it    pruned if its first rung would end  (none)
                         trains              past search_end
    on-track             seconds into its    pruned if its batches' pace says    measure_seconds
                         first epoch         its first rung would end past
                                             search_end
    cap                  derived cap, no     trial_cap: its first rung, or this  share_of_time_left
                         --refit             share of the time left if more
    cap-before-refit     derived cap,        trial_cap: its first rung, or this  share_before_refit
                         --refit             share of the time left if more
    slower-than-fastest  --refit, a pace     pruned if its first rung needs      slower_than_fastest
                         measured            more than its share and more than
                                             this many times the fastest
                                             trial's
    leader-goes-on       past trial_cap, no  a trial leading outright goes on    (none)
                         --refit
    leader-stops         past trial_cap,     a trial leading outright stops      (none)
                         --refit
    ahead-at-same-epoch  past a derived      a trial ahead of the leader as it   (none)
                         trial_cap           stood after as many epochs goes on
                                             while ahead, until it has trained
                                             as many
    going-on-bound       spared, --refit     trial_bound: its first rung, or     share_going_on
                                             this share of the time left if
                                             more
    search-end           training at         it stops: pruned before its first   (none)
                         search_end          epoch ended, else ended with its
                                             best epoch
    refit-reserve        --refit, --timeout  search_end = end less the best      refit_safety
                                             trial's refit (its pace times a     max_refit_share
                                             margin), at most a share of
                                             --timeout
    crossval-reserve     --cv, --timeout     less the finalists' folds too,      max_refit_share
                                             refit and folds within that share;
                                             folds_end = end less the refit
    refit-shrink         a refit short of    fewer epochs, at least this share   min_epoch_share
                         time                (or all its trial validated), else
                                             the trial's own model is final
    end                  a refit or fold at  it stops after the batch during     (StopAt)
                         end or folds_end    which that passes (a refit's last
                                             batch finishes it)
    ===================  ==================  ==================================  ===================

    Why: no fixed share of ``--timeout`` decides who trains, the speed measured on this machine
    does; a cap leaves the time after a trial to the candidates after it; with a refit the search
    only ranks (the refit trains the winner for all its planned epochs), so every trial takes a
    smaller share and the early trials (the presets) cannot take the search; comparing at equal
    fidelity keeps a late candidate (a share of less time left) from being ranked below an early
    one only for having trained fewer epochs; and going on is bounded so that one trial ahead of
    another on a slow machine cannot take the time of every candidate after it.
    """

    #: ``cap``: a trial that does not lead may train, past its first rung, this share of the
    #: time left when it started: the rest is left to the candidates after it
    share_of_time_left: float = 0.5
    #: ``cap-before-refit``: with a refit after the search, every trial's share of the time left.
    #: A fifth, so that the first trials (the presets, enqueued first) leave most of the search to
    #: the sampler's candidates: at a half, the presets, one trained to its end as the leader,
    #: took three quarters of a 20-minute search's training
    share_before_refit: float = 0.2
    #: ``going-on-bound``: with a refit after the search, a trial ahead of the leader at the same
    #: epoch starts no epoch past its cap that would end past this share of the time left when it
    #: started (the share a trial has without a refit): unbounded, on a slow machine a preset went
    #: on from its cap to three times it, and the search ended with it, no candidate trained
    #: (inf: unbounded)
    share_going_on: float = 0.5
    #: ``slower-than-fastest``: with a refit after the search, a candidate whose first rung takes
    #: more than this many times the fastest trial's must fit that rung within its share of the
    #: time left, or it does not train: a preset 3x slower per epoch than another would have
    #: taken 70 % of the search's last minutes to reach its first rung
    slower_than_fastest: float = 2.0
    #: ``refit-reserve``: the refit's time estimate is the trial's pace times this: on a 2-core
    #: machine single epochs of one model took from 42 s to 81 s, and the refit builds its model
    #: and copies the data first
    refit_safety: float = 1.25
    #: ``refit-reserve``, ``crossval-reserve``: the refit's (and cross-validation's) reserve is at
    #: most this share of ``--timeout``, so the search keeps at least the rest on any machine; a
    #: refit that needs more trains fewer epochs
    max_refit_share: float = 0.5
    #: ``refit-shrink``: a refit shrunk to fit its time trains at least this share of the epochs
    #: chosen on validation, or all the epochs the trial validated when its time budget cut it
    #: sooner; fewer, and the trial's own model is the final one
    min_epoch_share: float = 0.5
    #: ``ahead-at-same-epoch``: a trial past its derived cap that is ahead of the leader as the
    #: leader stood after as many epochs goes on (False: it stops at its cap, as any trial not
    #: leading outright; the simulator's ablation of the rule)
    equal_fidelity: bool = True
    #: ``leader-stops``: with a refit to follow, a trial past its cap that leads outright stops
    #: (False: it goes on, as without a refit; the simulator's ablation of the rule)
    leader_stops_before_refit: bool = True
    #: ``first-rung``: the epoch at which each pruner first compares a trial (:data:`FIRST_RUNG`);
    #: a pruner not listed, or several objectives (no pruner), need 1
    first_rungs: Mapping[str, int] = field(default_factory=lambda: FIRST_RUNG, hash=False)

    def first_rung(self, pruner: str, objectives: int = 1) -> int:
        """``first-rung``: the epochs a trial must be able to reach in the time it has."""
        return self.first_rungs.get(pruner, 1) if objectives == 1 else 1

    @staticmethod
    def first_rung_seconds(
        fastest: float | None, first_rung: int, first_epoch_share: float = 1.0
    ) -> float:
        """``last-start``: the seconds the quickest trial needs to be worth starting: the fastest
        pace measured (``fastest``, seconds per epoch; None or 0: none yet, 0 s) times
        ``first_rung`` epochs, the first of them ``first_epoch_share`` of an epoch."""
        return fastest * (first_rung - 1 + first_epoch_share) if fastest else 0.0

    def trial_time(
        self,
        pace: CandidatePace,
        *,
        left: float | None,
        finished: Finished = Finished(),
        user_cap: float | None = None,
        refit_follows: bool = False,
    ) -> TrialTime:
        """A candidate's cap and its bound on going on past it (rules ``user-cap``, ``too-slow``,
        ``cap``, ``cap-before-refit``, ``slower-than-fastest``, ``going-on-bound``).

        Args:
            pace: the candidate's predicted pace and its first rung.
            left: seconds to ``search_end`` now (None: the search has no end).
            finished: what the study's finished trials measured.
            user_cap: ``--trial-timeout`` (None: the cap is derived).
            refit_follows: ``--refit``: the search only ranks the configurations.

        Raises:
            TooSlow: the candidate cannot reach its first rung in the time it would have.
        """
        per_epoch, needed = pace.per_epoch, pace.needed
        if user_cap is not None and needed > user_cap:
            raise TooSlow(
                f"too slow for the per-trial time budget of {user_cap:.0f}s: about {per_epoch:.0f} s per epoch"
            )
        if left is None:
            return TrialTime(user_cap, None)
        if needed > left:
            raise TooSlow(f"{TOO_SLOW}: about {per_epoch:.0f} s per epoch")
        if user_cap is not None:
            return TrialTime(user_cap, None)
        if not refit_follows:
            return TrialTime(max(needed, self.share_of_time_left * left), None)
        share = self.share_before_refit * left
        fastest = finished.fastest
        if fastest is not None and needed > max(share, self.slower_than_fastest * fastest * pace.rung_epochs):
            raise TooSlow(
                f"{TOO_SLOW}: about {per_epoch:.0f} s per epoch, {per_epoch / fastest:.0f}x the fastest "
                f"trial's; its first rung needs {needed:.0f}s, more than its share ({share:.0f}s)"
            )
        bound = None if math.isinf(self.share_going_on) else max(needed, self.share_going_on * left)
        return TrialTime(max(needed, share), bound)

    def affordable(
        self,
        pace: CandidatePace,
        *,
        left: float | None,
        finished: Finished = Finished(),
        user_cap: float | None = None,
        refit_follows: bool = False,
    ) -> bool:
        """Whether a candidate would train if a trial started it now: :meth:`trial_time` does not
        find it too slow."""
        try:
            self.trial_time(
                pace, left=left, finished=finished, user_cap=user_cap, refit_follows=refit_follows
            )
        except TooSlow:
            return False
        return True

    @staticmethod
    def spares(user_cap: float | None) -> bool:
        """Whether any trial may go on past its cap: not under the user's ``--trial-timeout``
        (``user-cap``), which binds every trial."""
        return user_cap is None

    def goes_on(self, accuracy: float, epochs: int, leader: Leader | None, *, refit_follows: bool) -> bool:
        """Whether a trial past its derived cap goes on (``leader-goes-on``, ``leader-stops``,
        ``ahead-at-same-epoch``), given its best validation accuracy so far after ``epochs``
        epochs and the best complete trial (None: none yet).

        A trial that leads outright goes on without a refit to follow (its model is the final
        one) and stops with one (the ranking is settled; the refit trains it for all its planned
        epochs). A trial ahead of the leader as the leader stood after as many epochs goes on,
        for as long as it stays ahead, until it has trained as many: configurations are compared
        at equal fidelity.
        """
        if leader is None or accuracy > leader.value:
            return not (refit_follows and self.leader_stops_before_refit)
        return self.equal_fidelity and self.ahead_at_same_epoch(leader, accuracy, epochs)

    @staticmethod
    def ahead_at_same_epoch(leader: Leader, accuracy: float, epochs: int) -> bool:
        """Whether ``accuracy``, a trial's best after ``epochs`` epochs, is ahead of ``leader``'s
        best after as many, the leader having trained more (its reports: one per epoch)."""
        if len(leader.curve) <= epochs:
            return False
        return accuracy > leader.best_within(epochs)

    def reserve(self, seconds: float, budget: float | None) -> float:
        """``refit-reserve``: the time to keep for ``seconds`` of refit, at most
        :attr:`max_refit_share` of ``budget`` (``--timeout``; None: no cap)."""
        return seconds if budget is None else min(seconds, self.max_refit_share * budget)


#: the policy the platform runs on
DEFAULT_TIME_POLICY = TimePolicy()
