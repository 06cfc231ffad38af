"""A user's ``build(hp)`` or keras-tuner ``HyperModel`` as a space (``spaces.BuildFnSpace``).

The space goes through the calls a search makes (``sample`` on an Optuna trial, ``build_model``,
``compile``, a training step, ``from_params`` with no trial, ``describe``), with the model of
keras-tuner's getting-started guide as the user writes it (``tests/user_project``).
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np
import optuna
import pytest
from keras import layers

import spaces
from spaces import BuildFnSpace, SpaceError, TrialParams, UnbuildableError, UserBuildError

optuna.logging.set_verbosity(optuna.logging.WARNING)

PROJECT = Path(__file__).resolve().parents[1] / "user_project"
GUIDE = f"{PROJECT / 'kt_getting_started.py'}:build_model"
SHAPE, CLASSES = (28, 28, 1), 10


def ask(seed: int = 0) -> optuna.Trial:
    study = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    return study.ask()


def train_step(model: keras.Model) -> dict[str, float]:
    """One step on random images with one-hot labels, as the platform's pipeline feeds them."""
    rng = np.random.default_rng(0)
    x = rng.random((8, *SHAPE), dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, 8)]
    model.run_eagerly = True
    return model.train_on_batch(x, y, return_dict=True)


def architecture(model: keras.Model) -> list[tuple[str, tuple[Any, ...]]]:
    return [(type(layer).__name__, tuple(layer.output.shape)) for layer in model.layers]


# --- the getting-started guide's build_model ------------------------------------------------


def test_the_guides_build_model_is_sampled_by_an_optuna_trial() -> None:
    space = spaces.get_space(GUIDE)
    assert isinstance(space, BuildFnSpace) and space.name == "kt_getting_started"
    for seed in range(4):
        trial = ask(seed)
        candidate = space.sample(TrialParams(trial))
        n = trial.params["num_layers"]
        expected = {"num_layers", "activation", "dropout", "lr", *(f"units_{i}" for i in range(n))}
        assert set(trial.params) == expected  # only build's own calls: it compiles the model
        assert candidate.arch.compiled and candidate.arch.params == trial.params
        model = space.build_model(candidate, SHAPE, CLASSES)
        dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
        assert [d.units for d in dense] == [trial.params[f"units_{i}"] for i in range(n)] + [
            CLASSES
        ]
        assert (
            any(isinstance(layer, layers.Dropout) for layer in model.layers)
            == trial.params["dropout"]
        )


def test_a_compiled_model_keeps_its_optimizer_loss_and_metrics() -> None:
    space = spaces.get_space(GUIDE)
    trial = ask(1)
    candidate = space.sample(TrialParams(trial))
    model = space.build_model(candidate, SHAPE, CLASSES)
    optimizer = model.optimizer
    space.compile(model, candidate)
    assert model.optimizer is optimizer  # nothing to adapt: build's compile is untouched
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(optimizer.learning_rate) == pytest.approx(trial.params["lr"], rel=1e-6)
    assert model.loss == "categorical_crossentropy"
    train = candidate.train
    assert (train.optimizer, train.loss, train.epochs, train.batch_size) == (
        "adam",
        "categorical_crossentropy",
        space.train_ranges.epochs[1],
        32,
    )
    assert train.schedule_callbacks(3) == []
    logs = train_step(model)
    assert math.isfinite(logs["loss"]) and "accuracy" in logs


def test_a_stored_trial_rebuilds_the_same_model_without_the_trial() -> None:
    space = spaces.get_space(GUIDE)
    trial = ask(2)
    candidate = space.sample(TrialParams(trial))
    expected = architecture(space.build_model(candidate, SHAPE, CLASSES))
    rebuilt = space.from_params(dict(trial.params))
    assert rebuilt == candidate
    assert architecture(space.build_model(rebuilt, SHAPE, CLASSES)) == expected
    with pytest.raises(spaces.InvalidParamsError, match="not in this space: typo"):
        space.from_params({**trial.params, "typo": 1})


def test_describe_shows_the_guides_ranges() -> None:
    described = {name: p.describe() for name, p in spaces.get_space(GUIDE).describe().items()}
    assert described == {
        "num_layers": "int [1, 3]",
        "units_0": "int [32, 512, step 32]",
        "activation": "one of relu, tanh",
        "units_1": "int [32, 512, step 32]",
        "units_2": "int [32, 512, step 32]",
        "dropout": "one of False, True",
        "lr": "float [0.0001, 0.01, log]",
    }


# --- a model build does not compile: the platform's training knobs ------------------------------


def uncompiled(hp: Any) -> keras.Model:
    model = keras.Sequential(
        [layers.Flatten(), layers.Dense(hp.Int("units", 8, 32), activation="relu")]
    )
    model.add(layers.Dense(CLASSES, activation="softmax"))
    return model


def test_an_uncompiled_model_gets_the_platforms_training_knobs() -> None:
    space = BuildFnSpace(uncompiled)
    assert space.name == "uncompiled"
    trial = ask(0)
    candidate = space.sample(TrialParams(trial))
    assert not candidate.arch.compiled
    assert {"optimizer", "learning_rate", "batch_size", "epochs", "loss", "lr_schedule"} <= set(
        trial.params
    )
    # the knobs that would change the user's model are not searched
    assert not {"shift", "hflip", "weight_decay_on"} & set(trial.params)
    model = space.build_model(candidate, SHAPE, CLASSES)
    space.compile(model, candidate)
    assert type(model.optimizer).__name__.lower() == candidate.train.optimizer
    assert float(model.optimizer.learning_rate) == pytest.approx(
        candidate.train.learning_rate, rel=1e-6
    )
    assert math.isfinite(train_step(model)["loss"])
    assert space.from_params(trial.params) == candidate
    described = space.describe()
    assert set(spaces._user.PLATFORM_TRAIN_KNOBS) | {"units"} == set(described)


def test_a_build_declaring_a_training_knob_name_fails_the_check() -> None:
    def clash(hp: Any) -> keras.Model:
        hp.Int("batch_size", 16, 64)
        return uncompiled(hp)

    with pytest.raises(SpaceError, match=r"test_user\.py:\d+: clash declares 'batch_size'"):
        spaces.check(BuildFnSpace(clash), SHAPE, CLASSES)


def test_sparse_losses_become_one_hot_and_accuracy_is_added() -> None:
    def sparse(hp: Any) -> keras.Model:
        model = uncompiled(hp)
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
        return model

    space = BuildFnSpace(sparse)
    candidate = space.sample(TrialParams(ask()))
    assert set(candidate.arch.params) == {"units"}  # compiled: no platform knob is searched
    model = space.build_model(candidate, SHAPE, CLASSES)
    space.compile(model, candidate)
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    logs = train_step(model)  # one-hot labels: a sparse loss would fail on them
    assert math.isfinite(logs["loss"]) and "accuracy" in logs


def test_the_batch_size_of_a_compiled_model_can_be_searched() -> None:
    searched = BuildFnSpace(spaces.load_space(GUIDE).build_fn, batch_size=None, epochs=5)
    trial = ask(0)
    candidate = searched.sample(TrialParams(trial))
    assert candidate.train.batch_size == trial.params["batch_size"] and candidate.train.epochs == 5


# --- HyperModels, conditional scopes, presets --------------------------------------------------


class ModelSelection(kt.HyperModel):
    """keras-tuner's conditional_scope example as a HyperModel; its fit() is not used."""

    def build(self, hp: Any) -> keras.Model:
        model = keras.Sequential([keras.Input(SHAPE)])
        model_type = hp.Choice("model_type", ["mlp", "cnn"])
        with hp.conditional_scope("model_type", ["mlp"]):
            if model_type == "mlp":
                model.add(layers.Flatten())
                model.add(layers.Dense(hp.Int("units", 8, 32), activation="relu"))
        with hp.conditional_scope("model_type", ["cnn"]):
            if model_type == "cnn":
                model.add(layers.Conv2D(hp.Int("filters", 4, 16), 3, activation="relu"))
                model.add(layers.GlobalAveragePooling2D())
        model.add(layers.Dense(CLASSES, activation="softmax"))
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        return model.fit(*args, shuffle=hp.Boolean("shuffle"), **kwargs)


def test_a_hypermodel_with_conditional_scopes() -> None:
    space = spaces.as_space(ModelSelection(name="selection"))
    assert space.name == "selection"
    kinds = set()
    for seed in range(8):
        trial = ask(seed)
        candidate = space.sample(TrialParams(trial))
        kind = trial.params["model_type"]
        kinds.add(kind)
        assert set(trial.params) == {"model_type", "units" if kind == "mlp" else "filters"}
        model = space.build_model(candidate, SHAPE, CLASSES)
        assert any(isinstance(layer, layers.Conv2D) for layer in model.layers) == (kind == "cnn")
    assert kinds == {"mlp", "cnn"}
    assert set(space.describe()) == {"model_type", "units", "filters"}
    assert spaces.as_space(ModelSelection).name == "test_user"  # a class is instantiated; no name


def test_presets_of_a_build_function_are_checked_points() -> None:
    good = BuildFnSpace(
        uncompiled,
        presets={"tiny": {**spaces.get_space("lenet").presets["doc000_lenet5"].params, "units": 8}},
    )
    with pytest.raises(
        SpaceError, match="preset 'tiny' is not a point of the space: parameters not in this space"
    ):
        spaces.check(good, SHAPE, CLASSES)
    params = {
        "units": 8, "optimizer": "adam", "label_smoothing_on": False, "epochs": 2, "batch_size": 16,
        "learning_rate": 1e-3, "loss": "categorical_crossentropy", "lr_schedule": "constant",
    }  # fmt: skip
    space = BuildFnSpace(uncompiled, presets={"tiny": params})
    spaces.check(space, SHAPE, CLASSES)
    assert space.from_params(space.presets["tiny"].params).arch.params == {"units": 8}


# --- failures at some points --------------------------------------------------------------------


def test_a_point_build_fails_at_raises_from_build_model_with_the_users_line() -> None:
    space = spaces.load_space(str(PROJECT / "bad" / "some_points_fail.py"))
    spaces.check(space, SHAPE, CLASSES)  # the default point builds
    for seed in range(20):
        trial = ask(seed)
        # never raises: a search samples before the trial's error handling
        candidate = space.sample(TrialParams(trial))
        if trial.params["deep"]:
            with pytest.raises(
                UserBuildError,
                match=r"some_points_fail\.py:12: build raised ValueError: Computed output size",
            ):
                space.build_model(candidate, SHAPE, CLASSES)
            return
        space.build_model(candidate, SHAPE, CLASSES)
    pytest.fail("no seed sampled deep=True")


def test_unbuildable_raised_by_build_prunes_as_for_the_families() -> None:
    def picky(hp: Any) -> keras.Model:
        if hp.Boolean("too_deep"):
            raise UnbuildableError("six poolings do not fit 28x28 images")
        return uncompiled(hp)

    space = BuildFnSpace(picky)
    candidate = space.sample(spaces.FixedParams({"too_deep": True}, strict=False))
    with pytest.raises(UnbuildableError, match="six poolings"):
        space.build_model(candidate, SHAPE, CLASSES)


def test_a_loaded_space_pickles_as_its_spec() -> None:
    space = spaces.load_space(GUIDE)
    assert pickle.loads(pickle.dumps(space)) is space
