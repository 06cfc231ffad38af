"""The samplers ``--sampler`` names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from search.samplers._prior import PriorSampler

__all__ = ["SAMPLERS", "make_sampler"]

#: Each factory takes the seed (None: fresh randomness).
SAMPLERS: dict[str, Callable[[int | None], optuna.samplers.BaseSampler]] = {
    # multivariate TPE models the knobs jointly; constant_liar keeps parallel workers apart
    "tpe": lambda seed: optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
    ),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False
    ),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "qmc": lambda seed: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
    # the documents' presets as an expert prior (PriorBand / piBO); make_sampler gives it them
    "prior": lambda seed: PriorSampler([], seed=seed),
}


def make_sampler(
    name: str,
    seed: int | None,
    priors: Sequence[Mapping[str, Any]] = (),
    feasible: Callable[[Mapping[str, Any]], bool] | None = None,
    search_space: Mapping[str, BaseDistribution] | None = None,
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (see :data:`SAMPLERS`).

    Args:
        name: a key of :data:`SAMPLERS`.
        seed: the sampler's seed (None: fresh randomness).
        priors: the presets' parameter dicts, for ``prior`` (the other samplers ignore them).
        feasible: whether a point can be built, for ``prior``, which draws again rather than
            start a trial that cannot be built (the other samplers ignore it).
        search_space: the parameters the space can declare, which ``prior`` draws and checks
            together (the other samplers ignore it).
    """
    if name == "prior":
        return PriorSampler(priors, seed=seed, feasible=feasible, search_space=search_space)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ValueError("--sampler gp needs PyTorch: pip install '.[gp]'") from None
    return SAMPLERS[name](seed)
