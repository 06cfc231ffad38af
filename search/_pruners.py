"""A pruner that does not prune on noise: a tie with the best trial at an epoch is kept."""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["NoiseTolerantPruner"]


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
        step = trial.last_step
        value = trial.intermediate_values.get(step) if step is not None else None
        if value is None or not math.isfinite(value):
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
        error = math.sqrt(max(0.0, best * (1.0 - best)) / self.val_images)
        return value < best - error
