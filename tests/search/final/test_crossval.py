"""``--cv``: on a small validation split the best configuration is chosen by k-fold
cross-validation of the finalists, not by the noise of a few hundred validation images."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from search import run
from search.core import UsageError
from search.data import Dataset, dataset_from_arrays, load_dataset
from search.final import (
    MODEL_CHOICE_ATTR,
    SMALL_VALIDATION,
    ModelChoice,
    SearchSummary,
    choose_model,
    crossval_reserve,
    crossvalidate,
    cv_folds,
    finalists,
    plan_refit,
)
from search.results import best_trial
from search.trials import MODEL_ARTIFACT_ATTR
from spaces import get_space

LENET = get_space("lenet")
GOOD = {**LENET.presets["doc000_lenet5"].params, "batch_size": 16, "epochs": 2}  # learns in 2 epochs
BAD = {**GOOD, "optimizer": "sgd", "momentum": 0.0, "learning_rate": 1e-5}  # no better than chance after 2 epochs
WORSE = {**BAD, "learning_rate": 2e-5}


def _trial(params: dict[str, Any], value: float, seconds_per_epoch: float = 0.5, **attrs: Any) -> FrozenTrial:
    """A complete trial of the search, as the objective records it (2 epochs, its best the last)."""
    return create_trial(
        state=TrialState.COMPLETE,
        value=value,
        params=params,
        distributions={k: CategoricalDistribution([v]) for k, v in params.items()},
        user_attrs={"seconds_per_epoch": seconds_per_epoch, "best_epoch": 2, "epochs_run": 2, "epochs_planned": 2, **attrs},
    )


def _study(*trials: FrozenTrial) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for trial in trials:
        study.add_trial(trial)
    return study


@pytest.fixture(scope="module")
def small(keras_home: Path) -> Dataset:
    """300 Fashion-MNIST images: 270 for training, 30 for validation (one standard error: 0.08)."""
    return load_dataset("fashion_mnist", limit=300, seed=0)


def test_auto_cross_validates_only_small_validation_splits() -> None:
    assert cv_folds("auto", 144) == 5
    assert cv_folds("auto", SMALL_VALIDATION - 1) == 5
    assert cv_folds("auto", SMALL_VALIDATION) is None
    assert cv_folds("off", 30) is None
    assert cv_folds(3, 6000) == 3  # a number of folds: whatever the split's size
    assert cv_folds("3", 6000) == 3  # as the command line gives it
    with pytest.raises(UsageError, match="--cv must be"):
        cv_folds(1, 30)


def test_the_finalists_are_the_trials_within_two_standard_errors(small: Dataset) -> None:
    study = _study(
        _trial(GOOD, 0.70),
        _trial(BAD, 0.60),  # 0.10 behind: within 2 x 0.08
        _trial(GOOD, 0.65),  # the same configuration as the best: trained once
        _trial(WORSE, 0.40),  # too far behind
        _trial({**GOOD, "dropout": 0.1}, 0.68, best_epoch=None),  # recorded no best epoch
    )
    assert [t.number for t in finalists(study, small)] == [0, 1]
    assert [t.number for t in finalists(study, small, needs_model=True)] == [0]  # trial 1 kept no model
    study.add_trial(_trial({**GOOD, "dropout": 0.2}, 0.62, **{MODEL_ARTIFACT_ATTR: "x"}))
    assert [t.number for t in finalists(study, small, needs_model=True)] == [0, 5]


def test_cross_validation_picks_the_best_mean_and_drops_a_clearly_worse_finalist(small: Dataset) -> None:
    # validation alone (30 images) prefers a configuration that does not learn
    study = _study(_trial(BAD, 0.70), _trial(GOOD, 0.667), _trial(WORSE, 0.667))
    best, choice = choose_model(study, study.best_trial, LENET, small, cv="auto", seed=0)
    assert best.number == 1 and choice.trial == 1 and choice.validation_best == 0
    bad, good, worse = choice.finalists
    assert (bad.state, good.state) == ("complete", "complete")
    assert len(bad.fold_accuracies) == len(good.fold_accuracies) == 5
    assert good.mean > bad.mean + 0.2
    # compared with the best so far (trial 1) fold by fold, the third stops before its last fold
    assert worse.state == "pruned" and 2 <= len(worse.fold_accuracies) < 5
    assert set(worse.fold_accuracies) <= set(good.fold_accuracies)
    line = choice.describe()
    assert line.startswith("best chosen by 5-fold cross-validation over 300 images (3 finalists; trial 1: ")
    assert "on the 30 validation images alone, trial 0" in line
    recorded = study.user_attrs[MODEL_CHOICE_ATTR]
    assert recorded["trial"] == 1 and recorded["method"] == "cross-validation"
    assert [f["folds_run"] for f in recorded["finalists"]] == [5, 5, len(worse.fold_accuracies)]
    assert best_trial(study).number == 1  # search.predict, report and compare follow the choice
    study.add_trial(_trial({**GOOD, "dropout": 0.1}, 0.8))
    assert best_trial(study).number == 3  # until a trial beats the one it was chosen over


def test_a_large_validation_split_is_not_cross_validated() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random((2300, 8, 8, 1), dtype=np.float32), np.arange(2300) % 2
    data = dataset_from_arrays(x, y, x[:20], y[:20], val_fraction=0.9)  # 2,070 validation images
    study = _study(_trial(GOOD, 0.90), _trial(BAD, 0.899))
    assert crossval_reserve(study, data, cv="auto", budget=None) == 0.0
    best, choice = choose_model(study, study.best_trial, LENET, data, cv="auto")
    assert best.number == 0 and not choice.by_crossval and not choice.finalists
    assert choice.describe() == "best chosen on 2,070 validation images"


def test_the_summary_says_how_many_images_the_choice_rests_on(small: Dataset) -> None:
    trial = _trial(GOOD, 0.70)
    summary = SearchSummary("s", "lenet", "fashion_mnist", {"complete": 1, "pruned": 0, "failed": 0}, 1, 1.0, [trial])
    summary.choice = ModelChoice(0, 0, 144)
    lines = summary.lines()
    assert lines[1].startswith("best trial") and lines[2] == "best chosen on 144 validation images"
    assert lines[-1].startswith("best params:")


def test_the_reserve_is_every_fold_of_the_finalists_that_fit_within_half_the_budget(small: Dataset) -> None:
    study = _study(_trial(GOOD, 0.70, seconds_per_epoch=10.0))
    assert crossval_reserve(study, small, cv="auto", budget=None) == 0.0  # one trial: nothing to choose
    study.add_trial(_trial(BAD, 0.65, seconds_per_epoch=20.0))
    good, bad = (5 * plan_refit(t, small).seconds * 4 / 5 for t in study.trials)  # type: ignore[union-attr]
    assert crossval_reserve(study, small, cv="auto", budget=None) == pytest.approx(good + bad)
    assert crossval_reserve(study, small, cv="auto", budget=1000, refit_seconds=100) == pytest.approx(good + bad)
    study.add_trial(_trial(WORSE, 0.64, seconds_per_epoch=40.0))  # a third finalist does not fit as well
    assert crossval_reserve(study, small, cv="auto", budget=1000, refit_seconds=100) == pytest.approx(good + bad)
    # the refit first; then not even two finalists fit: the search keeps all the rest
    assert good + bad > 600 / 2 - 100
    assert crossval_reserve(study, small, cv="auto", budget=600, refit_seconds=100) == 0.0
    assert crossval_reserve(study, small, cv="off", budget=None) == 0.0


def test_cross_validation_stops_at_the_clock(small: Dataset) -> None:
    # the second finalist's trial measured 1,000 s an epoch: its folds cannot end before the clock does
    study = _study(_trial(GOOD, 0.70), _trial(BAD, 0.68, seconds_per_epoch=1000.0))
    scores = crossvalidate(study.trials, LENET, small, folds=5, end=time.monotonic() + 300, seed=0)
    assert [(s.state, len(s.fold_accuracies)) for s in scores] == [("complete", 5), ("skipped", 0)]
    # with no time left even the validation best cannot start: validation alone chooses
    best, choice = choose_model(study, study.best_trial, LENET, small, cv="auto", end=time.monotonic())
    assert best.number == 0 and choice.cut and not choice.by_crossval
    assert all(not s.fold_accuracies for s in choice.finalists)
    assert choice.describe() == "best chosen on 30 validation images (no time for cross-validation)"


def test_search_run_chooses_and_evaluates_the_same_trial(keras_home: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="lenet-fashion_mnist", storage=storage, direction="maximize")
    for params in (GOOD, BAD, WORSE):
        study.enqueue_trial(params)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run.main([
            "--study", "lenet", "--storage", storage, "--artifacts", str(tmp_path / "artifacts"), "--no-mlflow",
            "--limit", "300", "--seed", "0", "--max-epochs", "2", "--n-trials", "3", "--pruner", "none", "--refit",
        ]) == 0  # fmt: skip
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=storage)
    choice = study.user_attrs[MODEL_CHOICE_ATTR]
    assert study.user_attrs["test_evaluation"]["trial"] == choice["trial"]
    assert study.user_attrs["final_model"]["trial"] == choice["trial"]
    assert ("best chosen by 5-fold cross-validation over 300 images" in out.getvalue()) == (
        choice["method"] == "cross-validation"
    )
    assert "best chosen" in out.getvalue()


def test_the_option_takes_auto_off_or_folds() -> None:
    parser = run.build_parser()

    def cv(*args: str) -> int | str:
        return run.settings_from_args(parser.parse_args(["--study", "lenet", *args])).cv

    assert cv() == "auto"
    assert cv("--cv", "off") == "off"
    assert cv("--cv", "10") == 10
    with pytest.raises(UsageError, match="--cv must be"):
        cv("--cv", "1")
