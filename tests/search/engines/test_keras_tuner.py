"""keras-tuner as the engine: the same space, trials stored in Optuna and logged to MLflow."""

from __future__ import annotations

import random
from pathlib import Path

import keras_tuner as kt
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from search import run
from search.engines import KerasTunerParams
from search.engines._keras_tuner import _oracle
from spaces import get_space


def _args(folder: Path, tuner: str, *extra: str) -> list[str]:
    return [
        "--study", "lenet", "--engine", "keras-tuner", "--tuner", tuner,
        "--storage", f"sqlite:///{folder}/optuna.db", "--artifacts", str(folder / "storage" / "artifacts"),
        "--tracking-uri", f"sqlite:///{folder}/mlflow.db",
        "--limit", "300", "--max-epochs", "2", "--seed", "4", *extra,
    ]  # fmt: skip


def test_the_space_samples_through_keras_tuners_hyperparameters() -> None:
    space = get_space("cnn")
    hp = kt.HyperParameters()
    source = KerasTunerParams(hp)
    candidate = space.sample(source)
    assert set(source.asked) <= set(hp.values)  # every parameter the space asked for is keras-tuner's
    assert space.from_params(source.values) == candidate  # and rebuilds the same candidate without keras-tuner
    assert isinstance(hp._hps["learning_rate"][0], kt.engine.hyperparameters.Float)
    assert hp._hps["learning_rate"][0].sampling == "log"


def test_the_bayesian_oracles_point_at_its_bound_is_in_the_space() -> None:
    """At probability 1.0 keras-tuner 1.4 turns an Int into ``max_value + 1`` (513 of [16, 512]);
    the space must get its high end, or the point fails and the oracle proposes it over and over."""
    from search.engines._keras_tuner import _SpaceHyperModel

    space = get_space("lenet")
    oracle = _oracle("bayesian", 2, 0)
    hp = kt.HyperParameters()
    _SpaceHyperModel(space, (28, 28, 1), 10).declare_hyperparameters(hp)
    oracle.update_space(hp)
    at_bound = oracle.hyperparameters.copy()  # as the oracle's create_trial makes a trial's values
    at_bound.values = oracle._vector_to_values(np.ones(len(oracle._get_hp_bounds())))
    assert at_bound.values["dense1_units"] == 513  # keras-tuner's value, outside [16, 512]
    source = KerasTunerParams(at_bound)
    space.sample(source)  # a valid point
    assert source.values["dense1_units"] == 512


@pytest.mark.parametrize("tuner", ["random", "hyperband", "bayesian"])
def test_seed_0_fixes_keras_tuners_draws(tuner: str) -> None:
    """keras-tuner takes a seed of 0 for no seed and draws its own from Python's ``random``."""
    seeds = set()
    for state in (1, 2):
        random.seed(state)  # what keras-tuner would draw a seed from
        seeds.add(_oracle(tuner, 2, 0).seed)
    assert len(seeds) == 1
    assert _oracle(tuner, 2, 1).seed not in seeds  # and another seed is another start


@pytest.mark.parametrize("tuner", ["random", "hyperband"])
def test_keras_tuner_trials_are_optuna_trials_with_mlflow_runs(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tuner: str
) -> None:
    assert run.main(_args(tmp_path, tuner, "--n-trials", "2")) == 0
    name = f"lenet-fashion_mnist-kt-{tuner}"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.state.is_finished() for t in trials)
    assert study.user_attrs["engine"] == f"keras-tuner-{tuner}"
    space = get_space("lenet")
    for t in trials:
        assert t.user_attrs["engine"] == "keras-tuner" and t.user_attrs["keras_tuner_trial"]
        space.from_params(t.params)  # a valid point of the same space
        if t.state == TrialState.COMPLETE:
            cap = t.user_attrs.get("keras_tuner_epochs", 2)  # Hyperband: the bracket's epochs
            assert 1 <= t.user_attrs["epochs_run"] <= cap <= 2
    if tuner == "hyperband":
        assert all(t.user_attrs["keras_tuner_epochs"] in (1, 2) for t in trials)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    for t in trials:
        mlflow_run = client.get_run(t.user_attrs["mlflow_run_id"])
        assert mlflow_run.data.tags["optuna.trial_number"] == str(t.number)
        assert mlflow_run.data.params["learning_rate"]
    out = capsys.readouterr().out
    assert f"keras-tuner {tuner}" in out and "test accuracy of the best configuration" in out
    assert (tmp_path / "storage" / "keras-tuner" / name).is_dir()  # keras-tuner's own records


def test_bad_tuner_and_workers_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run.main(_args(tmp_path, "grid"))
    assert exited.value.code == 2 and "invalid choice: 'grid'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        run.main(_args(tmp_path, "random", "--workers", "2"))
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keras-tuner runs one process" in err[0]
    assert not (tmp_path / "optuna.db").exists()


@pytest.mark.parametrize("tuner", ["random", "hyperband", "bayesian"])
def test_every_oracle_draws_its_initial_points_first(tmp_path: Path, tuner: str) -> None:
    """keras-tuner has no queue: the presets are each oracle's first random draws, in order."""
    from search.engines._keras_tuner import _SpaceHyperModel

    space = get_space("cnn")
    presets = list(space.presets.values())
    oracle = _oracle(tuner, 2, 0, [p.params for p in presets])
    oracle._set_project_dir(str(tmp_path), "points")  # where it saves each trial
    hp = kt.HyperParameters()
    _SpaceHyperModel(space, (28, 28, 1), 10).declare_hyperparameters(hp)
    oracle.update_space(hp)
    drawn = []
    for i in range(len(presets) + 1):
        trial = oracle.create_trial(f"tuner{i}")
        source = KerasTunerParams(trial.hyperparameters)
        drawn.append(space.sample(source))
    assert drawn[: len(presets)] == [space.from_params(p.params) for p in presets]
    assert drawn[-1] not in drawn[:-1]  # then its own draws


def test_enqueued_presets_are_keras_tuners_first_trials_and_are_not_retried(keras_home: Path, tmp_path: Path) -> None:
    args = _args(tmp_path, "random", "--enqueue-presets", "--n-trials", "1", "--no-mlflow", "--no-test", "--max-epochs", "1")
    assert run.main(args) == 0
    assert run.main(args) == 0  # resumed: the preset was tried, so keras-tuner draws its own
    study = optuna.load_study(study_name="lenet-fashion_mnist-kt-random", storage=f"sqlite:///{tmp_path}/optuna.db")
    first, second = study.get_trials()
    assert first.user_attrs["preset"] == "doc000_lenet5"
    assert get_space("lenet").from_params(first.params) == get_space("lenet").from_params(
        get_space("lenet").presets["doc000_lenet5"].params
    )
    assert "preset" not in second.user_attrs and second.params != first.params


def test_the_same_command_resumes_keras_tuners_search(keras_home: Path, tmp_path: Path) -> None:
    """keras-tuner reloads its oracle from storage/keras-tuner/<study>: a second invocation adds
    its --n-trials to the study instead of finding the oracle's trial count already reached."""
    args = _args(tmp_path, "random", "--n-trials", "1", "--no-mlflow", "--no-test", "--max-epochs", "1")
    assert run.main(args) == 0
    assert run.main(args) == 0
    study = optuna.load_study(study_name="lenet-fashion_mnist-kt-random", storage=f"sqlite:///{tmp_path}/optuna.db")
    trials = study.get_trials()
    assert [t.state.is_finished() for t in trials] == [True, True]
    assert len({t.user_attrs["keras_tuner_trial"] for t in trials}) == 2  # two keras-tuner trials, not one twice


def test_a_promoted_hyperband_trial_continues_from_its_previous_round(keras_home: Path, tmp_path: Path) -> None:
    """keras-tuner's Hyperband promotes a trial to the next round of its bracket with
    ``tuner/trial_id`` and ``tuner/initial_epoch``: the promoted trial starts from the model its
    previous round trained, at that epoch, as keras-tuner's own Hyperband tuner does."""
    args = _args(tmp_path, "hyperband", "--n-trials", "4", "--max-epochs", "3", "--no-mlflow", "--no-test")
    assert run.main(args) == 0
    study = optuna.load_study(study_name="lenet-fashion_mnist-kt-hyperband", storage=f"sqlite:///{tmp_path}/optuna.db")
    trials = study.get_trials()
    by_kt = {t.user_attrs["keras_tuner_trial"]: t for t in trials}
    promoted = [t for t in trials if "keras_tuner_continues" in t.user_attrs]
    assert promoted, [t.user_attrs for t in trials]  # max_epochs 3, factor 3: 3 trials of 1 epoch, then 1 of 3
    for t in promoted:
        source = by_kt[t.user_attrs["keras_tuner_continues"]]
        assert source.user_attrs["keras_tuner_epochs"] < t.user_attrs["keras_tuner_epochs"]
        assert t.params == source.params  # the same configuration, trained further
        if source.state != TrialState.COMPLETE:
            continue  # nothing to continue from: it trained from scratch
        initial = source.user_attrs["epochs_run"]  # keras-tuner's tuner/initial_epoch: the previous round's epochs
        assert t.user_attrs["resumed_from_trial"] == source.number
        assert t.user_attrs["resumed_from_epoch"] == initial
        # it trains only the epochs from tuner/initial_epoch to its round's, not all of them again
        assert t.user_attrs["epochs_run"] == min(t.user_attrs["keras_tuner_epochs"], t.params["epochs"]) - initial
        assert len(t.user_attrs["history"]["val_accuracy"]) == t.user_attrs["epochs_run"]
