"""The noise-tolerant pruner (successive halving that does not prune a tie with the best trial), the
chance-level pruner (a trial that guesses is pruned after its first epoch, also under Hyperband),
and the registry (whose Hyperband lets the sampler learn from every trial)."""

from __future__ import annotations

import optuna
import pytest

from search.pruners import ChanceLevelPruner, NoiseTolerantPruner, make_pruner

BEST = [0.85, 0.88, 0.90, 0.9132]  # the basic CNN's validation accuracy per epoch (made up, close to the README's)


def _first_pruned_step(pruner: optuna.pruners.BasePruner, curve: list[float], leaders: int = 1) -> int | None:
    """Run ``leaders`` trials with the ``BEST`` curve to the end, then one with ``curve``: the step it
    is pruned at."""
    # a fixed name: Hyperband puts a trial in a bracket by a hash of the study's name and its number
    study = optuna.create_study(study_name="study", direction="maximize", pruner=pruner)
    for _ in range(leaders):
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


DIVERGED = [0.1000, 0.1000, 0.1000, 0.1000]  # one class for every image of a stratified split


def test_a_trial_at_chance_is_pruned_after_its_first_epoch() -> None:
    assert _first_pruned_step(NoiseTolerantPruner(_successive_halving(), val_images=6000), DIVERGED) == 1
    chance = ChanceLevelPruner(NoiseTolerantPruner(_successive_halving(), val_images=6000), 10, 6000)
    assert _first_pruned_step(chance, DIVERGED) == 0
    assert _first_pruned_step(chance, [0.12, 0.88, 0.90, 0.9130]) is None  # slow start, above chance: kept
    assert _first_pruned_step(chance, [0.84, 0.88, 0.89, 0.9000]) == 3  # the wrapped pruner still judges


def test_chance_is_judged_within_three_standard_errors() -> None:
    late_start = [0.125, 0.88, 0.90, 0.9130]
    assert ChanceLevelPruner(optuna.pruners.NopPruner(), 10, 6000).floor == pytest.approx(0.1116, abs=1e-4)
    assert _first_pruned_step(ChanceLevelPruner(optuna.pruners.NopPruner(), 10, 6000), late_start) is None
    # on 1,000 validation images 0.125 is within noise of guessing among 10 classes (floor 0.128)
    assert _first_pruned_step(ChanceLevelPruner(optuna.pruners.NopPruner(), 10, 1000), late_start) == 0
    # among 2 classes 0.54 is chance on 1,000 images (floor 0.547)
    assert _first_pruned_step(ChanceLevelPruner(optuna.pruners.NopPruner(), 2, 1000), [0.54, 0.9]) == 0
    with pytest.raises(ValueError, match="at least 2 classes"):
        ChanceLevelPruner(optuna.pruners.NopPruner(), 1, 1000)


def test_on_a_small_subset_a_trial_at_chance_is_not_pruned_for_it() -> None:
    # 999 validation images come from a subset of ~10,000: an epoch of a few steps may end at chance
    assert _first_pruned_step(ChanceLevelPruner(optuna.pruners.NopPruner(), 10, 999), DIVERGED) is None


def _hyperband() -> optuna.pruners.HyperbandPruner:
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=4, reduction_factor=3)


def test_hyperband_prunes_a_diverged_trial_its_bracket_has_nothing_to_compare_with() -> None:
    # in the study "study" trials 0 and 1 fall in bracket 0, trial 2 in bracket 1, alone
    assert _first_pruned_step(_hyperband(), DIVERGED, leaders=2) is None
    assert _first_pruned_step(ChanceLevelPruner(_hyperband(), 10, 6000), DIVERGED, leaders=2) == 0
    assert _first_pruned_step(ChanceLevelPruner(_hyperband(), 10, 999), DIVERGED, leaders=2) is None


def test_wrapped_hyperband_prunes_by_its_brackets_as_it_does_alone() -> None:
    behind = [0.30, 0.40, 0.50, 0.60]  # above chance, far behind the leaders
    for leaders in (1, 2, 3, 4):  # followers in different brackets
        alone = _first_pruned_step(_hyperband(), behind, leaders=leaders)
        assert _first_pruned_step(ChanceLevelPruner(_hyperband(), 10, 6000), behind, leaders=leaders) == alone
    assert _first_pruned_step(_hyperband(), behind, leaders=1) is not None


def _trials_the_sampler_saw(pruner: optuna.pruners.BasePruner) -> list[int]:
    """How many trials the sampler was shown for each of 12 trials (including the new one)."""
    seen: list[int] = []

    class Recording(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):  # type: ignore[no-untyped-def]
            seen.append(len(study.get_trials(deepcopy=False)))
            return super().sample_independent(study, trial, name, distribution)

    study = optuna.create_study(
        study_name="study", direction="maximize", pruner=pruner, sampler=Recording(seed=0)
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(4):
            trial.report(x, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    study.optimize(objective, n_trials=12)
    return seen


def test_with_the_registrys_hyperband_the_sampler_learns_from_every_trial() -> None:
    # Optuna's Hyperband alone shows the sampler only the trials of the new trial's bracket
    alone = _trials_the_sampler_saw(_hyperband())
    assert min(alone[1:]) < max(alone) < 12
    assert _trials_the_sampler_saw(make_pruner("hyperband", 4, 6000, 10)) == list(range(1, 13))


def test_the_registry_prunes_chance_except_without_pruning() -> None:
    for name in ("successive-halving", "median", "hyperband"):
        assert _first_pruned_step(make_pruner(name, 10, 6000, 10), DIVERGED) == 0, name
    assert _first_pruned_step(make_pruner("none", 10, 6000, 10), DIVERGED) is None
