"""The samplers ``--sampler`` names."""

from __future__ import annotations

from collections.abc import Callable

import optuna

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
}


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (see :data:`SAMPLERS`)."""
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ValueError("--sampler gp needs PyTorch: pip install '.[gp]'") from None
    return SAMPLERS[name](seed)
