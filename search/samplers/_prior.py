"""A sampler that treats the documents' presets as an expert prior.

The presets are hand-tuned configurations: good starting points, but not necessarily right for
every data set or machine. :class:`PriorSampler` draws each new trial in one of three *modes*:

* ``prior``: around a preset. Each parameter keeps the preset's value with probability ``keep``;
  otherwise a number is drawn from a truncated normal around it and a category from the others
  (a "spike and slab" per parameter). Presets that were tried are picked by their rank.
* ``incumbent``: around the best trial so far (complete trials first, then pruned ones ranked by
  the last step they reported, as Optuna's TPE ranks them), like PriorBand's incumbent mutation.
* ``global``: every parameter from ``base_sampler`` (multivariate TPE by default), which learns
  from all trials, local ones included.

How the modes share the trials (PriorBand's "ensemble sampling policy", Mallik et al., NeurIPS
2023, as implemented in NePS):

* ``global`` always gets ``global_share`` (1/3 by default): a wrong prior can slow the search
  but never trap it, since a third of the draws ignore it.
* Until ``min_evidence`` trials have finished, the rest goes to ``prior``.
* Then the rest is split between ``prior`` and ``incumbent`` by how well each explains the best
  trials: the top third of the ranked trials (weights K, K-1, ..., 1 by rank) are scored under the
  prior (a mixture over the presets) and under a distribution of the same width centred on the
  best trial. If the best trials sit near the presets, the prior keeps its share; if they were
  found elsewhere, the incumbent takes over. ``prior`` never falls below ``min_prior_share``.
  Two departures from PriorBand: each trial is scored around the best trial *other than itself*
  (leave-one-out; otherwise the incumbent explains itself perfectly and takes everything as soon
  as it exists), and densities are geometric means per parameter (otherwise, with twenty
  parameters, any small difference becomes a certainty).

The local distributions narrow as evidence grows, in the spirit of piBO (Hvarfner et al., ICLR
2022), whose prior weight decays as beta/n: after ``n`` finished trials a width ``w`` becomes
``max(min_width, w / sqrt(1 + n / narrowing))``, and the keep probability rises to match
(``1 - (1 - keep) * ratio`` of the narrowed to the initial width).

Why a spike: a cnn point has about twenty parameters. Moved all at once, even by a little each, a
draw around a good preset lands far from it: without the spike, the sampler's candidates in a
``make run`` validated at 0.74-0.86 after two epochs, the presets at 0.86-0.89. Keeping
each value with probability ``keep`` moves about a third of them, as PriorBand's incumbent
mutation (half of the parameters) and regularized evolution (one) do. The densities that score
the modes (below) leave the spike out: a kept value lies at the slab's peak anyway.

Widths are fractions of each parameter's range in "unit space": log space for ``log=True``
parameters, and each integer (or step) owning an equal slice, as Optuna's own transform does.

Conditional spaces: sampling is independent (define-by-run). A parameter that the centre (preset
or incumbent) does not have, or whose value is not in the parameter's range or choices, is drawn
by ``base_sampler.sample_independent``. Trials enqueued with fixed parameters (``--enqueue-presets``)
are recorded as ``enqueued``; their remaining parameters are drawn globally.

Known limit: a preset at a *local* optimum (another optimizer, well tuned) holds the search
there longer than plain TPE would, since the incumbent stays near it and the global TPE learns
from the local trials too (``benchmarks/prior_sampler.py``, "local" prior).

Multi-objective studies: the incumbents are the Pareto front (``study.best_trials``); the centre
of an ``incumbent`` draw is one of them at random, and the prior-versus-incumbent score uses the
front, each trial weighted equally.

Points that cannot be built or trained in time (``feasible``): a space's parameters are asked
for one at a time (define-by-run), and a point whose feature maps shrink to nothing, or whose
model is too slow for the time left, is only known once every parameter is drawn. Given
``feasible``, each trial's parameters are therefore drawn together when it starts, in its mode
(Optuna's relative sampling, over every parameter of ``search_space`` or declared by the study's
trials, each with one distribution), and drawn again, up to ``max_redraws`` times, while
``feasible`` rejects them: such a point never becomes a trial. Parameters neither lists are drawn
one at a time as before, and after ``max_redraws`` rejections the last draw stands (the trial then
fails to build or is pruned as too slow, as without ``feasible``). The rejections are counted in
:data:`REDRAWS_KEY`.

The mode of each trial is stored in its system attributes (:data:`MODE_KEY`, and the preset index
or trial number of the centre under :data:`CENTRE_KEY`), so summaries and benchmarks can count
them.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search.compat import cached_trials, storage_of, trial_id

__all__ = ["CENTRE_KEY", "MODES", "MODE_KEY", "REDRAWS_KEY", "PriorSampler"]

_log = logging.getLogger(__name__)

MODE_KEY = "prior_sampler:mode"
"""System attribute holding how a trial was drawn: one of :data:`MODES`."""
CENTRE_KEY = "prior_sampler:centre"
"""System attribute holding the centre of a local draw: the preset's index (``prior``) or the
trial's number (``incumbent``)."""
MODES = ("prior", "incumbent", "global", "enqueued")
REDRAWS_KEY = "prior_sampler:redraws"
"""System attribute holding how many drawn points ``feasible`` rejected before the trial's own."""


#: tries to move one parameter of a local draw that copied its centre (a parameter on a short
#: grid may land on the centre's step again)
_COPY_REDRAWS = 10


@dataclass(frozen=True)
class _Plan:
    """How one trial is drawn."""

    mode: str
    centre: Mapping[str, Any] | None = None  # the preset's or incumbent's params (local modes)
    width: float = 0.0  # std of the truncated normals, in unit space
    keep: float = 1.0  # probability of keeping each of the centre's values
    spike: bool = False  # numbers too keep the centre's value with probability ``keep`` (prior mode)


class PriorSampler(optuna.samplers.BaseSampler):
    """Draws trials around the presets, around the best trials, or from a global sampler.

    See the module docstring for the algorithm.

    Args:
        priors: The presets: plain parameter dicts of the search space. A preset may lack the
            parameters its own choices do not activate (conditional ones). May be empty: then
            only ``incumbent`` and ``global`` draws happen.
        base_sampler: The sampler of the ``global`` draws and of parameters a centre lacks.
            Defaults to the platform's multivariate TPE (grouped, so conditional spaces work).
        seed: Seeds the mode choices, the local draws and the default ``base_sampler``.
        global_share: Share of ``global`` draws, at every stage.
        prior_width: Initial std around a preset, as a fraction of each parameter's unit range.
        incumbent_width: Initial std around the incumbent (smaller: it is evidence, not belief).
        min_width: The widths never narrow below this.
        keep: Initial probability that a local draw keeps each of the centre's values.
        narrowing: Finished trials after which the widths are divided by sqrt(2) (then by sqrt(3)
            after twice as many, ...).
        min_evidence: Finished trials needed before ``incumbent`` draws start.
        min_prior_share: ``prior`` draws never fall below this share (while there are presets).
        feasible: given a trial's parameters drawn together, whether the point can be built and
            trained (it may be given parameters the point does not use, and lack some that no
            trial has declared yet); rejected points are drawn again. None: every point is
            accepted. A search's check needs its objective, made after the study: see
            :meth:`checking`.
        search_space: the parameters the space can declare, drawn together with those the
            study's trials declared (with ``feasible`` only).
        max_redraws: rejected draws after which the last one stands.
    """

    def __init__(
        self,
        priors: Sequence[Mapping[str, Any]],
        *,
        base_sampler: optuna.samplers.BaseSampler | None = None,
        seed: int | None = None,
        # PriorBand's random share is 1/(1 + eta^rung): 1/2 at the lowest rung, 1/4 at the next
        # (eta = 3); a third keeps a wrong prior from trapping the search, yet leaves 2/3 local.
        global_share: float = 1 / 3,
        # 0.15 of the unit range: for a learning rate in [1e-5, 0.1] (log), +-0.6 decade, a factor
        # of 4 either way, about how far apart the documents' hand-tuned rates lie; for 1-5 blocks,
        # +-0.75 block. (NePS's "medium" confidence is 0.25: our presets are more than a guess.)
        prior_width: float = 0.15,
        # PriorBand mutates its incumbent with std 0.25 on half the parameters; we move fewer
        # (``keep``) but each by less: it is evidence, not belief (0.1: +-0.4 decade of learning rate).
        incumbent_width: float = 0.1,
        # 0.03: a few percent of the range is about the resolution at which validation accuracy
        # stops telling two configurations apart.
        min_width: float = 0.03,
        # NePS's "medium" confidence keeps the preset's choice 3 times in 4; 0.7 is a little less
        # sure, since the documents disagree on optimizers and activations. Numbers too: a cnn
        # draw then moves about 6 of its 20 parameters.
        keep: float = 0.7,
        # After 10 finished trials the widths shrink by 1/sqrt(2), after 30 by half: a 20-minute
        # run (20-30 trials) ends with local draws about 1.5-2x tighter than it started.
        narrowing: float = 10.0,
        # PriorBand starts incumbent sampling once a full bracket's worth has finished; with
        # asynchronous successive halving, 3 finished trials (eta) are the first bracket's top.
        min_evidence: int = 3,
        # 1/20: the presets get a trial now and then even when the incumbent dominates, since the
        # incumbent may be a lucky draw on a small validation set.
        min_prior_share: float = 0.05,
        feasible: Callable[[Mapping[str, Any]], bool] | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
        # 20: in the cnn space on 28x28 images about 1 draw in 4 is unbuildable, so 20 rejections
        # in a row mean the region has nothing to build.
        max_redraws: int = 20,
    ) -> None:
        if not 0.0 < global_share <= 1.0:
            raise ValueError(f"global_share must be in (0, 1], got {global_share}")
        if not 0.0 <= min_prior_share <= 1.0 - global_share:
            raise ValueError(
                f"min_prior_share must be in [0, 1 - global_share], got {min_prior_share}"
            )
        for name, width in (("prior_width", prior_width), ("incumbent_width", incumbent_width)):
            if not 0.0 < min_width <= width:
                raise ValueError(
                    f"{name} must be at least min_width > 0, got {width} (min {min_width})"
                )
        if not 0.0 <= keep <= 1.0:
            raise ValueError(f"keep must be in [0, 1], got {keep}")
        if narrowing <= 0:
            raise ValueError(f"narrowing must be positive, got {narrowing}")
        if max_redraws < 0:
            raise ValueError(f"max_redraws must be at least 0, got {max_redraws}")
        self._priors = [dict(p) for p in priors]
        self._base = base_sampler or optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            group=True,
            constant_liar=True,
            n_startup_trials=8,
        )
        self._rng = np.random.RandomState(seed)
        self._global_share = global_share
        self._prior_width = prior_width
        self._incumbent_width = incumbent_width
        self._min_width = min_width
        self._keep = keep
        self._narrowing = narrowing
        self._min_evidence = min_evidence
        self._min_prior_share = min_prior_share if self._priors else 0.0
        self._plans: dict[int, _Plan] = {}  # by trial id, until the trial finishes
        self._feasible = feasible
        self._search_space = dict(search_space or {})
        self._max_redraws = max_redraws
        self._joint: set[int] = set()  # trials whose parameters are drawn together (by id)

    @property
    def feasible(self) -> Callable[[Mapping[str, Any]], bool] | None:
        """The check of each point drawn together (None: every point is accepted)."""
        return self._feasible

    @property
    def search_space(self) -> dict[str, BaseDistribution]:
        """The parameters drawn together with those the study's trials declared."""
        return dict(self._search_space)

    def checking(
        self,
        feasible: Callable[[Mapping[str, Any]], bool] | None,
        search_space: Mapping[str, BaseDistribution] | None = None,
    ) -> PriorSampler:
        """This sampler with ``feasible`` and ``search_space`` in place of its own: the same
        presets and settings, and the same random state and base sampler (shared, not copied: the
        new sampler draws what this one would have drawn next, and a :meth:`reseed_rng` of this
        one holds for it). A search opens its study with a sampler before there is an objective,
        whose affordability check ``feasible`` includes; once there is, the study samples with
        the sampler this returns. This one is left as it was.
        """
        twin = copy.copy(self)
        twin._feasible = feasible
        twin._search_space = dict(search_space or {})
        twin._plans = dict(self._plans)
        twin._joint = set(self._joint)
        return twin

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._base.reseed_rng()

    # --- Optuna's sampler interface -------------------------------------------------------------

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._base.before_trial(study, trial)
        self._plan(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        mode = self._plan(study, trial).mode
        if self._feasible is not None and mode != "enqueued":
            joint = _declared(study, self._search_space)
            if joint:
                self._joint.add(trial_id(trial))
                return joint
        if mode != "global":
            return {}
        return self._base.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if trial_id(trial) not in self._joint:
            return self._base.sample_relative(study, trial, search_space)
        assert self._feasible is not None
        plan = self._plan(study, trial)
        for redraws in range(self._max_redraws + 1):
            params = self._draw_together(study, trial, plan, search_space)
            if _accepts(self._feasible, params):
                break
        if redraws:
            storage_of(study).set_trial_system_attr(trial_id(trial), REDRAWS_KEY, redraws)
            _log.debug("trial %d: %d unbuildable draws rejected", trial.number, redraws)
        return params

    def _draw_together(
        self, study: Study, trial: FrozenTrial, plan: _Plan, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Every parameter of ``search_space`` drawn as the trial's mode draws it one at a time:
        ``global``, the base sampler's relative draw, then its independent draws for the rest;
        local modes, around the centre, then independent draws for what the centre lacks. A
        local draw that keeps every one of the centre's values (a trial already run) is moved in
        one of them."""
        params: dict[str, Any] = {}
        if plan.mode == "global":
            own = self._base.infer_relative_search_space(study, trial)
            if own:
                joint = self._base.sample_relative(study, trial, own)
                params = {k: v for k, v in joint.items() if search_space.get(k) == own.get(k)}
        centre = plan.centre if plan.centre is not None else {}
        local = [name for name in search_space if name in centre and name not in params]
        drawn = {
            name: _local_draw(self._rng, centre[name], search_space[name], plan.width, plan.keep, plan.spike)
            for name in local
        }
        if drawn and all(v is not None and _same(v, centre[name]) for name, v in drawn.items()):
            drawn = self._move_one(drawn, centre, search_space, plan.width)
        for name, dist in search_space.items():
            if name in params:
                continue
            value = drawn.get(name) if local else None
            params[name] = (
                value if value is not None else self._base.sample_independent(study, trial, name, dist)
            )
        return params

    def _move_one(
        self,
        drawn: dict[str, Any],
        centre: Mapping[str, Any],
        search_space: Mapping[str, BaseDistribution],
        width: float,
    ) -> dict[str, Any]:
        """``drawn``, a copy of ``centre``, moved in one parameter chosen at random, as regularized
        evolution mutates a parent: at the narrowest keep (0.94), one local draw of twenty
        parameters in three would otherwise train a configuration again."""
        names = list(drawn)
        for _ in range(_COPY_REDRAWS):
            name = names[self._rng.randint(len(names))]
            value = _local_draw(self._rng, centre[name], search_space[name], width, keep=0.0)
            if value is not None and not _same(value, centre[name]):
                return {**drawn, name: value}
        return drawn

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        plan = self._plan(study, trial)
        if plan.centre is not None and param_name in plan.centre:
            value = _local_draw(
                self._rng, plan.centre[param_name], param_distribution, plan.width, plan.keep, plan.spike
            )
            if value is not None:
                return value
        return self._base.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._plans.pop(trial_id(trial), None)
        self._joint.discard(trial_id(trial))
        self._base.after_trial(study, trial, state, values)

    # --- the schedule ---------------------------------------------------------------------------

    def mode_weights(self, study: Study) -> dict[str, float]:
        """The probabilities of ``prior``, ``incumbent`` and ``global`` for the next trial."""
        ranked = _ranked(study)
        local = 1.0 - self._global_share
        if len(ranked) < max(1, self._min_evidence):
            if not self._priors:
                return {"prior": 0.0, "incumbent": 0.0, "global": 1.0}
            return {"prior": local, "incumbent": 0.0, "global": self._global_share}
        if not self._priors:
            return {"prior": 0.0, "incumbent": local, "global": self._global_share}
        # PriorBand: score the top third (at least one) under the prior and under the incumbent,
        # with the same width, weighted K, K-1, ..., 1 by rank. Two changes (see the docstring):
        # leave-one-out (a trial is scored around the best *other* incumbent, or the incumbent
        # would always explain itself best), and densities per parameter (geometric means), so
        # that twenty parameters do not turn small differences into certainties.
        multi = len(study.directions) > 1
        top = ranked if multi else ranked[: max(1, len(ranked) // 3)]
        incumbents = ranked if multi else ranked[:2]
        width = self._width(self._prior_width, len(ranked))
        keep = self._narrowed_keep(width, self._prior_width)
        prior_mixture = list(zip(self._preset_weights(study, ranked), self._priors))
        log_prior, log_inc, log_rank = [], [], []
        for rank, trial in enumerate(top):
            others = [(1.0, i.params) for i in incumbents if i.number != trial.number]
            if not multi:
                others = others[:1]
            if not others:
                continue
            log_prior.append(_log_mixture(prior_mixture, trial, width, keep))
            log_inc.append(_log_mixture(others, trial, width, keep))
            log_rank.append(0.0 if multi else math.log(len(top) - rank))
        if not log_prior:  # a Pareto front of one: no evidence either way
            prior_ratio = 0.5
        else:
            score_prior = _logsumexp(np.add(log_rank, log_prior))
            score_inc = _logsumexp(np.add(log_rank, log_inc))
            prior_ratio = 1.0 / (1.0 + math.exp(min(score_inc - score_prior, 700.0)))
        prior = max(self._min_prior_share, local * prior_ratio)
        return {"prior": prior, "incumbent": local - prior, "global": self._global_share}

    def _plan(self, study: Study, trial: FrozenTrial) -> _Plan:
        """The trial's plan: chosen once, when the trial starts, and recorded in its attributes."""
        plan = self._plans.get(trial_id(trial))
        if plan is not None:
            return plan
        centre_id: int | None = None
        if trial.system_attrs.get("fixed_params"):
            plan = _Plan("enqueued")
        else:
            weights = self.mode_weights(study)
            modes = list(weights)
            p = np.array([weights[m] for m in modes])
            mode = modes[self._rng.choice(len(modes), p=p / p.sum())]
            ranked = _ranked(study)
            if mode == "prior":
                w = np.array(self._preset_weights(study, ranked))
                centre_id = int(self._rng.choice(len(self._priors), p=w / w.sum()))
                width = self._width(self._prior_width, len(ranked))
                plan = _Plan(
                    mode,
                    self._priors[centre_id],
                    width,
                    self._narrowed_keep(width, self._prior_width),
                    spike=True,
                )
            elif mode == "incumbent":
                multi = len(study.directions) > 1
                best = ranked[self._rng.randint(len(ranked))] if multi else ranked[0]
                centre_id = best.number
                width = self._width(self._incumbent_width, len(ranked))
                plan = _Plan(
                    mode, best.params, width, self._narrowed_keep(width, self._incumbent_width)
                )
            else:
                plan = _Plan("global")
        self._plans[trial_id(trial)] = plan
        storage_of(study).set_trial_system_attr(trial_id(trial), MODE_KEY, plan.mode)
        if centre_id is not None:
            storage_of(study).set_trial_system_attr(trial_id(trial), CENTRE_KEY, centre_id)
        _log.debug("trial %d: %s draw (centre %s)", trial.number, plan.mode, centre_id)
        return plan

    def _width(self, initial: float, evidence: int) -> float:
        """A local width after ``evidence`` finished trials (piBO-like decay, floored)."""
        return max(self._min_width, initial / math.sqrt(1.0 + evidence / self._narrowing))

    def _narrowed_keep(self, width: float, initial: float) -> float:
        """The categorical keep probability that matches a width narrowed from ``initial``."""
        return 1.0 - (1.0 - self._keep) * width / initial

    def _preset_weights(self, study: Study, ranked: Sequence[FrozenTrial]) -> list[float]:
        """How often each preset is a ``prior`` centre: tried presets by rank (the best tried gets
        2, the next 1, then 1/2, ...), untried ones 1, since nothing says they are worse. A preset
        whose own trial ended before its first epoch (too slow for the time left, or unbuildable)
        is no centre any more: in ``make run`` draws around the tanh preset 001, too slow, kept
        most of its values and were rejected 20 times in a row (all of them, if every preset is)."""
        best_position: dict[int, int] = {}
        for position, trial in enumerate(ranked):
            for i, preset in enumerate(self._priors):
                if i not in best_position and _matches(preset, trial.params):
                    best_position[i] = position
        order = sorted(best_position, key=best_position.__getitem__)
        weights = [1.0] * len(self._priors)
        for rank, i in enumerate(order):
            weights[i] = 2.0 ** (1 - rank)
        for trial in cached_trials(study, states=(TrialState.PRUNED, TrialState.FAIL)):
            if not trial.intermediate_values:
                for i, preset in enumerate(self._priors):
                    if i not in best_position and _matches(preset, trial.params):
                        weights[i] = 0.0
        return weights if any(weights) else [1.0] * len(self._priors)


# --- drawing a trial's parameters together ------------------------------------------------------


def _declared(study: Study, space: Mapping[str, BaseDistribution]) -> dict[str, BaseDistribution]:
    """Every parameter of ``space`` or declared by the study's trials, with its distribution; one
    declared with several distributions (a range that depends on another parameter) is left
    out, to be drawn one at a time."""
    found: dict[str, BaseDistribution] = dict(space)
    several: set[str] = set()
    for t in cached_trials(study):
        for name, dist in t.distributions.items():
            if found.setdefault(name, dist) != dist:
                several.add(name)
    return {name: dist for name, dist in found.items() if name not in several and not dist.single()}


def _accepts(feasible: Callable[[Mapping[str, Any]], bool], params: Mapping[str, Any]) -> bool:
    """``feasible(params)``; a predicate that fails accepts the point (the trial will tell)."""
    try:
        return bool(feasible(params))
    except Exception:  # noqa: BLE001 - a broken predicate must not stop the search
        _log.debug("the feasibility check failed; the point is accepted", exc_info=True)
        return True


# --- ranking the evidence -----------------------------------------------------------------------


def _ranked(study: Study) -> list[FrozenTrial]:
    """Finished trials, best first: complete ones by value, then pruned ones by the last step they
    reported (later is better), then by the value at that step (Optuna's TPE ranks them so).
    Multi-objective: the Pareto front only, in trial order."""
    if len(study.directions) > 1:
        return sorted(study.best_trials, key=lambda t: t.number)
    sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
    keyed = []
    for t in cached_trials(study, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if t.state == TrialState.COMPLETE and t.value is not None and not math.isnan(t.value):
            keyed.append(((0, 0.0, sign * t.value), t))
        elif t.state == TrialState.PRUNED and t.intermediate_values:
            step, value = max(t.intermediate_values.items())
            if not math.isnan(value):
                keyed.append(((1, -step, sign * value), t))
    keyed.sort(key=lambda kt: (kt[0], kt[1].number))
    return [t for _, t in keyed]


def _matches(preset: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """Whether a trial ran this preset: equal on every parameter both have (at least one)."""
    shared = [k for k in preset if k in params]
    return bool(shared) and all(_same(preset[k], params[k]) for k in shared)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return a == b


# --- unit space: each parameter's range mapped to [0, 1] ----------------------------------------


def _bounds(dist: FloatDistribution | IntDistribution) -> tuple[float, float]:
    """The ends of ``dist`` in the space the unit interval is stretched over: log space for log
    parameters, each integer (or step) owning an equal slice, as in Optuna's own transform."""
    if isinstance(dist, IntDistribution):
        half = 0.5 * dist.step
        if dist.log:
            return math.log(dist.low - half), math.log(dist.high + half)
        return dist.low - half, dist.high + half
    if dist.log:
        return math.log(dist.low), math.log(dist.high)
    if dist.step is not None:
        return dist.low - 0.5 * dist.step, dist.high + 0.5 * dist.step
    return dist.low, dist.high


def _to_unit(value: Any, dist: FloatDistribution | IntDistribution) -> float | None:
    """``value``'s place in [0, 1], or None if it is not a number within ``dist``'s range."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if not dist.low <= value <= dist.high:
        return None
    lo, hi = _bounds(dist)
    x = math.log(value) if dist.log else float(value)
    return (x - lo) / (hi - lo) if hi > lo else 0.5


def _from_unit(u: float, dist: FloatDistribution | IntDistribution) -> int | float:
    """The value at ``u`` in [0, 1], rounded to ``dist``'s grid and kept in its range."""
    lo, hi = _bounds(dist)
    x = lo + u * (hi - lo)
    if dist.log:
        x = math.exp(x)
    step = dist.step
    if step is not None:
        x = dist.low + round((x - dist.low) / step) * step
    x = min(max(x, dist.low), dist.high)
    return int(x) if isinstance(dist, IntDistribution) else float(x)


# --- local draws and their densities ------------------------------------------------------------


def _local_draw(
    rng: np.random.RandomState,
    centre: Any,
    dist: BaseDistribution,
    width: float,
    keep: float,
    keep_numbers: bool = False,
) -> Any:
    """A draw around ``centre``, or None if ``centre`` is not a value of ``dist`` (then the caller
    draws globally)."""
    if isinstance(dist, CategoricalDistribution):
        index = _choice_index(centre, dist)
        if index is None:
            return None
        others = [c for i, c in enumerate(dist.choices) if i != index]
        if not others or rng.rand() < keep:
            return dist.choices[index]
        return others[rng.randint(len(others))]
    if isinstance(dist, FloatDistribution | IntDistribution):
        u = _to_unit(centre, dist)
        if u is None:
            return None
        if keep_numbers and rng.rand() < keep:
            kept = _from_unit(u, dist)  # on the grid; the centre itself when it is (no 5e-4 -> 5.000000000000001e-4)
            return type(kept)(centre) if math.isclose(kept, centre, rel_tol=1e-9) else kept
        return _from_unit(_truncated_normal(rng, u, width), dist)
    return None


def _truncated_normal(rng: np.random.RandomState, mean: float, std: float) -> float:
    """A normal draw conditioned on [0, 1] (rejection: at least ~48% accepted for std <= 0.5)."""
    for _ in range(100):
        x = rng.normal(mean, std)
        if 0.0 <= x <= 1.0:
            return x
    return min(max(mean, 0.0), 1.0)


def _choice_index(value: Any, dist: CategoricalDistribution) -> int | None:
    for i, c in enumerate(dist.choices):
        if _same(c, value):
            return i
    return None


def _log_density(centre: Mapping[str, Any], trial: FrozenTrial, width: float, keep: float) -> float:
    """Log density of ``trial``'s parameters under the local distribution around ``centre``,
    relative to uniform (so parameters drawn globally count 0), per parameter: the mean over the
    parameters both have (a geometric mean of the densities)."""
    total, count = 0.0, 0
    for name, value in trial.params.items():
        dist = trial.distributions[name]
        if name not in centre:
            continue
        if isinstance(dist, CategoricalDistribution):
            i, j = _choice_index(centre[name], dist), _choice_index(value, dist)
            k = len(dist.choices)
            if i is None or j is None or k < 2:
                continue
            p = keep if i == j else (1.0 - keep) / (k - 1)
            total += math.log(max(p, 1e-300) * k)
            count += 1
        elif isinstance(dist, FloatDistribution | IntDistribution):
            mu, x = _to_unit(centre[name], dist), _to_unit(value, dist)
            if mu is None or x is None:
                continue
            total += _truncated_normal_logpdf(x, mu, width)
            count += 1
    return total / count if count else 0.0


def _truncated_normal_logpdf(x: float, mean: float, std: float) -> float:
    z = (x - mean) / std
    mass = _phi((1.0 - mean) / std) - _phi(-mean / std)
    return -0.5 * z * z - math.log(std * math.sqrt(2.0 * math.pi) * max(mass, 1e-300))


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _log_mixture(
    components: Sequence[tuple[float, Mapping[str, Any]]],
    trial: FrozenTrial,
    width: float,
    keep: float,
) -> float:
    """Log density of ``trial`` under a weighted mixture of local distributions."""
    total = sum(w for w, _ in components)
    logs = [math.log(w / total) + _log_density(c, trial, width, keep) for w, c in components if w > 0]
    return _logsumexp(np.array(logs))


def _logsumexp(x: np.ndarray) -> float:
    top = float(np.max(x))
    return top + math.log(float(np.sum(np.exp(x - top))))
