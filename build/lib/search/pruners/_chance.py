"""Pruners for accuracy: one that does not prune on noise (a tie with the best trial at an epoch
is kept), one that prunes at once what guesses no better than chance."""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["MIN_VAL_IMAGES", "ChanceLevelPruner", "NoiseTolerantPruner"]

#: fewer validation images than this, and no trial is pruned for being at chance: a subset that
#: small (``--limit``) trains an epoch of a few steps, and a sound model may still be guessing after it
MIN_VAL_IMAGES = 1000


def _standard_error(accuracy: float, images: int) -> float:
    """The standard error of an accuracy measured on ``images`` images."""
    return math.sqrt(max(0.0, accuracy * (1.0 - accuracy)) / images)


def _last_value(trial: FrozenTrial) -> float | None:
    """The value ``trial`` reported at its last step (None before its first)."""
    step = trial.last_step
    return trial.intermediate_values.get(step) if step is not None else None


def _chance_floor(num_classes: int, val_images: int) -> float:
    """The accuracy below which a trial is guessing: ``1/k + 3 sqrt(p (1 - p) / n)`` with ``p = 1/k``
    for ``k`` classes and ``n`` validation images (-inf below :data:`MIN_VAL_IMAGES` images)."""
    if num_classes < 2 or val_images < 1:
        raise ValueError(f"need at least 2 classes and 1 validation image, not {num_classes} and {val_images}")
    if val_images < MIN_VAL_IMAGES:
        return -math.inf
    chance = 1.0 / num_classes
    return chance + 3.0 * _standard_error(chance, val_images)


def _below(trial: FrozenTrial, floor: float) -> bool:
    """Whether the value ``trial`` reported at its last step is finite and below ``floor``."""
    value = _last_value(trial)
    return value is not None and math.isfinite(value) and value < floor


class NoiseTolerantPruner(optuna.pruners.BasePruner):
    """Prunes what ``wrapped`` prunes, except a trial that is as good as the best within noise.

    Accuracy measured on ``n`` validation images has a standard error of ``sqrt(p (1 - p) / n)``:
    0.0037 at 0.91 on 6,000 images. Successive halving keeps only the best trial at a rung that
    fewer than its reduction factor have reached, so early in a search it pruned the documents'
    dropout-0.7 CNN at 0.9127 after 4 epochs because the basic CNN had 0.9132 there — a tie, and
    the better model. This pruner keeps a trial whose value at its last step is within one
    standard error of the best value any other trial reported at that step; trials further
    behind are pruned as ``wrapped`` decides. For studies that maximise an accuracy.

    Args:
        wrapped: the pruner that decides (successive halving).
        val_images: how many validation images each value was measured on.
    """

    def __init__(self, wrapped: optuna.pruners.BasePruner, val_images: int) -> None:
        if val_images < 1:
            raise ValueError(f"val_images must be at least 1, not {val_images}")
        self.wrapped, self.val_images = wrapped, val_images

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if not self.wrapped.prune(study, trial):
            return False
        step, value = trial.last_step, _last_value(trial)
        if step is None or value is None or not math.isfinite(value):
            return True
        others = [
            t.intermediate_values.get(step)
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
            if t.number != trial.number
        ]
        finite = [v for v in others if v is not None and math.isfinite(v)]
        if not finite:
            return True
        best = max(finite)
        return value < best - _standard_error(best, self.val_images)


class ChanceLevelPruner(optuna.pruners.BasePruner):
    """Prunes what ``wrapped`` prunes, and at once a trial whose accuracy is no better than chance.

    A trial whose learning rate made it diverge ends its first epoch predicting one class for every
    image: its validation accuracy is that class's share, 0.1000 on Fashion-MNIST's stratified
    split. Successive halving first compares trials after epoch 2, so such a trial trained a second
    epoch for nothing (in a 60-minute search two did, 185 s and 83 s in all). This pruner prunes a
    trial at any epoch where its accuracy lies within three standard errors of guessing,
    ``1/k + 3 sqrt(p (1 - p) / n)`` with ``p = 1/k`` for ``k`` classes and ``n`` validation images:
    below 0.112 for 10 classes on 6,000 images, 0.128 on 1,000. Below :data:`MIN_VAL_IMAGES` the
    rule is off. For studies that maximise an accuracy.

    Wrapped, Optuna's :class:`~optuna.pruners.HyperbandPruner` prunes as it does alone, but
    Optuna's samplers no longer recognise it (they test the study's pruner's class), so they learn
    from every trial instead of from the trials of a new trial's bracket only.

    Args:
        wrapped: the pruner that judges every other trial.
        num_classes: the number of classes (chance is one in that many).
        val_images: how many validation images each value was measured on.
    """

    def __init__(self, wrapped: optuna.pruners.BasePruner, num_classes: int, val_images: int) -> None:
        self.wrapped, self.floor = wrapped, _chance_floor(num_classes, val_images)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return _below(trial, self.floor) or self.wrapped.prune(study, trial)
