"""buildable: a dry build says which points of a space fit the images, and the prior sampler uses
it to draw again rather than start a trial that cannot be built."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from search.data import load_dataset
from search.samplers import PriorSampler, make_sampler
from search.training import buildable, multiply_adds, space_distributions
from search.trials import Objective, ObserverGroup
from spaces import TrialParams, UnbuildableError, get_space

optuna.logging.set_verbosity(optuna.logging.ERROR)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

CNN = get_space("cnn")
PRESETS = [p.params for p in CNN.presets.values() if p.dataset == "fashion_mnist"]


def five_pooling_blocks() -> dict[str, Any]:
    """A preset made 5 blocks deep, each halving the map: 28 -> 14 -> 7 -> 3 -> 1 -> nothing."""
    params = dict(PRESETS[0])
    params["n_blocks"] = 5
    for i in range(5):
        params[f"filters_{i}"], params[f"pool_{i}"], params[f"dropout_{i}"] = 16, True, 0.0
    params["padding"] = "same"
    return params


def test_a_point_fits_the_images_or_not() -> None:
    feasible = buildable(CNN, (28, 28, 1), 10)
    assert all(feasible(p) for p in PRESETS)
    assert not feasible(five_pooling_blocks())
    assert buildable(CNN, (64, 64, 1), 10)(five_pooling_blocks())  # 64 halves 5 times: 2x2


def test_unused_parameters_are_ignored_and_missing_ones_accepted() -> None:
    feasible = buildable(CNN, (28, 28, 1), 10)
    assert feasible({**PRESETS[0], "filters_4": 32, "pool_4": True, "not_a_parameter": 1})
    assert feasible({"n_blocks": 5})  # cannot judge: the trial will tell


def search(seed: int, *, check: bool, whole_space: bool = False) -> tuple[optuna.Study, list[int]]:
    """30 cnn trials after the presets; a trial only builds its model (no training)."""
    feasible = buildable(CNN, (28, 28, 1), 10) if check else None
    sampler = make_sampler("prior", seed, PRESETS, feasible, space_distributions(CNN) if whole_space else None)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for preset in PRESETS:
        study.enqueue_trial(dict(preset))
    unbuildable: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        candidate = CNN.sample(TrialParams(trial))
        try:
            CNN.build_model(candidate, (28, 28, 1), 10)
        except UnbuildableError as exc:
            unbuildable.append(trial.number)
            raise optuna.TrialPruned() from exc
        return float(trial.number % 7)  # any ranking will do

    study.optimize(objective, n_trials=30)
    return study, unbuildable


def test_the_prior_sampler_draws_again_rather_than_try_an_unbuildable_point() -> None:
    before, after = 0, 0
    for seed in (1, 7):  # seeds whose unchecked searches draw unbuildable points (3 and 2 of 30)
        before += len(search(seed, check=False)[1])
        study, unbuildable = search(seed, check=True)
        after += len(unbuildable)
        for number in unbuildable:  # only a trial that declared a parameter no trial had before
            declared = {name for t in study.trials[:number] for name in t.params}
            assert set(study.trials[number].params) - declared, number
    assert before >= 3 and after < before


def test_knowing_the_whole_space_no_unbuildable_point_becomes_a_trial() -> None:
    distributions = space_distributions(CNN)
    assert {"filters_4", "pool_4", "dense_units_1"} <= distributions.keys()  # beyond the presets' 3 blocks
    for seed in (1, 7):  # without the check they drew 3 and 2 unbuildable points
        assert search(seed, check=True, whole_space=True)[1] == []


def test_a_users_build_function_is_not_run_to_list_its_parameters() -> None:
    from spaces import load_space

    space = load_space(str(Path(__file__).parents[2] / "user_project" / "kt_getting_started.py") + ":build_model")
    assert space_distributions(space) == {}


COST_SEED = 1  # seeds 1-4 draw 3 or more points too slow without the check (seed 0: 2)


def test_with_a_cost_check_the_prior_sampler_draws_again_rather_than_try_a_point_too_slow(
    tmp_path: Path,
) -> None:
    """The objective's own check (predicted first rung within the time a trial would have), made
    before a trial exists: this machine measured 30 s per epoch of the basic CNN, 100 s are left: a candidate
    predicted at more than 50 s per epoch cannot reach epoch 2."""
    objective = Objective(
        space=CNN, data=load_dataset("fashion_mnist", limit=2000, seed=1), max_epochs=10,
        observers=ObserverGroup([]), first_rung=2, search_end=lambda: time.monotonic() + 100.0,
    )  # fmt: skip
    basic = CNN.from_params(PRESETS[0])
    measured = {
        "multiply_adds": multiply_adds(CNN.build_model(basic, (28, 28, 1), 10)),
        "batch_size": basic.train.batch_size, "train_images": 1800, "seconds_per_epoch": 30.0,
    }  # fmt: skip

    def too_slow(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        candidate = CNN.from_params(trial.params)
        try:
            model = CNN.build_model(candidate, (28, 28, 1), 10)
        except UnbuildableError:
            return False  # not this test's question
        return not objective.affordable(study, model, candidate)

    counts: dict[bool, int] = {}
    for check in (False, True):
        sampler = make_sampler("prior", COST_SEED, PRESETS)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.enqueue_trial(dict(PRESETS[0]))
        first = study.ask()
        CNN.sample(TrialParams(first))
        for key, value in measured.items():
            first.set_user_attr(key, value)
        study.tell(first, 0.9)
        if check:  # as a search does once its objective exists
            assert isinstance(sampler, PriorSampler)
            study.sampler = sampler.checking(
                buildable(CNN, (28, 28, 1), 10, affordable=functools.partial(objective.affordable, study))
            )
        slow = []
        for _ in range(20):
            trial = study.ask()
            CNN.sample(TrialParams(trial))
            slow.append(too_slow(study, study.trials[-1]))
            declared = {name for t in study.trials[:-1] for name in t.params}
            if check and slow[-1]:  # only a point with a parameter no trial had declared
                assert set(study.trials[-1].params) - declared
            study.tell(trial, 0.5)
        counts[check] = sum(slow)
    assert counts[False] >= 3 and counts[True] < counts[False], counts
