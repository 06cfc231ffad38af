"""The noise-tolerant pruner: successive halving that does not prune a tie with the best trial."""

from __future__ import annotations

import optuna
import pytest

from search._pruners import NoiseTolerantPruner

BEST = [0.85, 0.88, 0.90, 0.9132]  # the basic CNN's validation accuracy per epoch (made up, close to the README's)


def _first_pruned_step(pruner: optuna.pruners.BasePruner, curve: list[float]) -> int | None:
    """Run a trial with the ``BEST`` curve to the end, then one with ``curve``: the step it is pruned at."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    leader = study.ask()
    for step, value in enumerate(BEST):
        leader.report(value, step)
        assert not leader.should_prune()
    study.tell(leader, BEST[-1])
    follower = study.ask()
    for step, value in enumerate(curve):
        follower.report(value, step)
        if follower.should_prune():
            return step
    return None


def _successive_halving() -> optuna.pruners.BasePruner:
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


def test_a_tie_with_the_best_is_kept_where_successive_halving_prunes_it() -> None:
    tie = [0.84, 0.88, 0.90, 0.9127]  # 0.0005 behind at the rung after 4 epochs
    assert _first_pruned_step(_successive_halving(), tie) == 3
    assert _first_pruned_step(NoiseTolerantPruner(_successive_halving(), val_images=6000), tie) is None


def test_a_trial_clearly_behind_is_still_pruned() -> None:
    behind = [0.84, 0.88, 0.89, 0.9000]  # 0.013 behind: over three standard errors on 6,000 images
    assert _first_pruned_step(NoiseTolerantPruner(_successive_halving(), val_images=6000), behind) == 3
    hopeless = [0.10, 0.10, 0.10, 0.10]
    assert _first_pruned_step(NoiseTolerantPruner(_successive_halving(), val_images=6000), hopeless) == 1


def test_the_tolerance_is_the_standard_error_of_the_validation_accuracy() -> None:
    behind = [0.84, 0.88, 0.89, 0.9000]
    # on 300 validation images one standard error at 0.9132 is 0.016: 0.013 behind is a tie there
    assert _first_pruned_step(NoiseTolerantPruner(_successive_halving(), val_images=300), behind) is None


def test_it_needs_validation_images() -> None:
    with pytest.raises(ValueError, match="val_images must be at least 1"):
        NoiseTolerantPruner(_successive_halving(), val_images=0)
