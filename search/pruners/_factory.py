"""The pruners ``--pruner`` names."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from search.pruners._chance import ChanceLevelPruner, NoiseTolerantPruner

__all__ = ["PRUNERS", "make_pruner"]

#: Successive halving (asynchronous, one bracket; rungs after epochs 2, 4 and 10) is the default,
#: keeping trials that tie with the best within the noise of the validation accuracy
#: (:class:`~search.pruners.NoiseTolerantPruner`). All but ``none`` also prune a trial at chance
#: level after any epoch (:class:`~search.pruners.ChanceLevelPruner`). That wrapper also changes
#: what Hyperband does to the sampler: alone, Optuna's Hyperband makes every sampler see only the
#: trials of the bracket a new trial falls in, so TPE's 8 start-up trials become 8 per bracket
#: (24 with 10 epochs), and a search of tens of trials hardly leaves random sampling (measured on
#: ``lenet``: 18 of 25 trials were random draws; docs/history.md). Wrapped, it prunes by its
#: brackets and the sampler learns from every trial, pruned ones ranked by the epoch they reached,
#: as BOHB's model and Ray Tune's Hyperband with a searcher do. Each factory takes the maximum
#: epochs, the number of validation images and the number of classes.
PRUNERS: dict[str, Callable[[int, int, int], optuna.pruners.BasePruner]] = {
    "hyperband": lambda max_epochs, val_images, classes: ChanceLevelPruner(
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3),
        classes,
        val_images,
    ),
    "median": lambda max_epochs, val_images, classes: ChanceLevelPruner(
        optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1), classes, val_images
    ),
    "successive-halving": lambda max_epochs, val_images, classes: ChanceLevelPruner(
        NoiseTolerantPruner(optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3), val_images),
        classes,
        val_images,
    ),
    "none": lambda max_epochs, val_images, classes: optuna.pruners.NopPruner(),
}


def make_pruner(name: str, max_epochs: int, val_images: int, num_classes: int) -> optuna.pruners.BasePruner:
    """The pruner called ``name`` (see :data:`PRUNERS`) for trials of up to ``max_epochs`` epochs
    validated on ``val_images`` images of ``num_classes`` classes."""
    return PRUNERS[name](max_epochs, val_images, num_classes)
