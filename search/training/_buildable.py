"""Whether a point of a space can be built, before any trial exists for it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import keras
from optuna.distributions import BaseDistribution

from spaces import (
    BuildFnSpace,
    Candidate,
    FixedParams,
    SearchSpace,
    UnbuildableError,
)

__all__ = ["buildable", "space_distributions"]

_log = logging.getLogger(__name__)


def buildable(
    space: SearchSpace,
    input_shape: tuple[int, ...],
    num_classes: int,
    affordable: Callable[[keras.Model, Candidate], bool] | None = None,
    build: Callable[[Candidate, Mapping[str, Any]], Any] | None = None,
) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for :class:`~search.samplers.PriorSampler`'s ``feasible``: whether the point
    ``params`` of ``space`` builds on images of ``input_shape`` (a dry build: layers and shapes,
    no compilation, no training; a few tens of milliseconds for the families' models) and, given
    ``affordable``, whether that says the built model can be trained in the time there is.

    It answers False when the space says the point cannot be built
    (:class:`~spaces.UnbuildableError`: a feature map shrinks to nothing) or ``affordable`` says
    no. Parameters the point does not use are ignored; a point it cannot judge (a parameter
    missing, a user's build that fails for another reason) is accepted, and its trial reports
    what is wrong. ``build`` (the candidate and its point) replaces the dry build: a simulator's
    trainer answers from its records.
    """

    def feasible(params: Mapping[str, Any]) -> bool:
        try:
            candidate = space.sample(FixedParams(params, strict=False))
            if build is None:
                model = space.build_model(candidate, input_shape, num_classes)
            else:
                model = build(candidate, params)
        except UnbuildableError:
            return False
        except Exception:  # noqa: BLE001 - not this check's to judge: the trial tells the user
            _log.debug("cannot judge whether %s builds", dict(params), exc_info=True)
            return True
        return affordable is None or affordable(model, candidate)

    return feasible


def space_distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """Every parameter ``space`` can declare, as the Optuna distribution a trial would record, so
    that the prior sampler can draw (and check) a whole point before any trial declared its
    parameters: a 4th block's filters, say, when the presets have 3. Empty for a user's
    ``build(hp)``, where listing the parameters runs the user's build a hundred times: its
    parameters are learnt from the trials instead."""
    if isinstance(space, BuildFnSpace):
        return {}
    return {name: param.distribution() for name, param in space.describe().items()}

