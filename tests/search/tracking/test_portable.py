"""Registered final models load anywhere: in a process that cannot import this platform.

Many configurations of every family (each optimizer, loss, schedule and activation, label
smoothing and weight decay on and off, augmentation), an ensemble with a compiled member, and a
user's ``build(hp)`` model are compiled the way a search compiles them (the LeNet with the KL divergence also trained a step), logged
and registered by :func:`search.tracking.log_final_model` into a real MLflow store; then one fresh
interpreter, where ``spaces`` and ``search`` cannot be imported, loads every champion with
``mlflow.pyfunc.load_model`` and predicts a batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient

from search import final
from search.data import Dataset
from search.final import Ensemble, SearchSummary, average_model
from search.tracking import CHAMPION_ALIAS, log_final_model
from spaces import FAMILIES, Space, TrialParams, UnbuildableError, load_space
from spaces._shared import ACTIVATIONS
from spaces._train import LOSSES, OPTIMIZERS, SCHEDULES

ROOT = Path(__file__).resolve().parents[3]
#: draws per family; the forced choices go on from one family to the next, so that every
#: optimizer, loss, schedule and activation comes up
DRAWS = 3
BATCH = 3
#: registered models the loading process compiles from their metadata and trains a step
TRAINED_FURTHER = ("lenet-kl-smoothed", "user-0")

#: the loading process: the platform's packages cannot be imported (as on a serving machine
#: with only MLflow and TensorFlow; the venv's editable install would otherwise find them)
LOADER = """
import importlib.abc, json, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("spaces", "search"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Absent())
import keras, mlflow, numpy as np

mlflow.set_tracking_uri(sys.argv[1])
results = {}
for name, shape in json.loads(sys.argv[2]).items():
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        x = np.random.default_rng(0).random((3, *shape), dtype=np.float32)
        p = np.asarray(model.predict(x))
        results[name] = {"shape": list(p.shape), "sums": p.sum(axis=1).tolist(),
                         "metadata": model.metadata.metadata}
        if name in sys.argv[3].split(","):  # trained further as the metadata says
            recipe = model.metadata.metadata["compile"]
            raw = model.get_raw_model()
            raw.compile(optimizer=keras.optimizers.deserialize(recipe["optimizer"]),
                        loss=keras.losses.deserialize(recipe["loss"]), metrics=["accuracy"])
            history = raw.fit(x, np.eye(p.shape[1])[[0, 1, 2]], epochs=1, verbose=0)
            results[name]["trained_loss"] = history.history["loss"][-1]
    except Exception as exc:
        results[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
results["_modules"] = sorted({m.partition(".")[0] for m in sys.modules} & {"spaces", "search"})
print("RESULTS", json.dumps(results))
"""


@dataclass
class Logged:
    name: str
    input_shape: tuple[int, int, int]
    params: dict[str, object]


def _shape(space: Space) -> tuple[int, int, int]:
    return (32, 32, 3) if space.default_dataset == "cifar10" else (28, 28, 1)


def _data(shape: tuple[int, int, int], classes: int = 10) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, *shape), dtype=np.float32)
    y = np.arange(BATCH, dtype=np.int64) % classes
    names = tuple(f"class {i}" for i in range(classes))
    return Dataset("tiny", names, x, y, x, y, x, y)


def _train_one_step(model: keras.Model, data: Dataset) -> None:
    model.fit(data.x_train, np.eye(data.num_classes)[data.y_train], batch_size=BATCH, epochs=1, verbose=0)


def _draws(space: Space, start: int) -> list[dict[str, object]]:
    """Values forced on the draws ``start``, ``start + 1``, ... of the shared knobs' choices."""
    draws = []
    for i in range(start, start + DRAWS):
        forced: dict[str, object] = {
            "optimizer": OPTIMIZERS[i % len(OPTIMIZERS)],
            "loss": LOSSES[i % len(LOSSES)],
            "lr_schedule": SCHEDULES[i % len(SCHEDULES)],
            "label_smoothing_on": i % 2 == 0,
            "weight_decay_on": i % 3 == 0,
        }
        if "activation" in space.describe():
            forced["activation"] = ACTIVATIONS[i % len(ACTIVATIONS)]
        draws.append(forced)
    return draws


class _Registry:
    def __init__(self, folder: Path) -> None:
        self.uri = f"sqlite:///{folder}/mlflow.db"
        self.client = MlflowClient(tracking_uri=self.uri)
        experiment = self.client.create_experiment("portable", artifact_location=str(folder / "artifacts"))
        self.run_id = self.client.create_run(experiment).info.run_id
        self.logged: list[Logged] = []

    def log(self, name: str, model: keras.Model, data: Dataset, trial: optuna.trial.FrozenTrial, ensemble: Ensemble | None = None) -> None:
        summary = SearchSummary(name, "portable", data.name, {"complete": 1}, 1, 0.0, [trial])
        predicted = np.argmax(np.asarray(model(data.x_test, training=False)), axis=1)
        evaluation = final.TestEvaluation(trial.number, 0.5, 1.0, data.y_test, predicted, model, ensemble=ensemble)
        version = log_final_model(self.client, self.uri, self.run_id, name, summary, evaluation, data)
        assert version is not None and version.aliases == [CHAMPION_ALIAS]
        self.logged.append(Logged(name, data.input_shape, dict(trial.params)))


def _tell(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    study.tell(trial, 0.5)
    return study.trials[trial.number]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> _Registry:
    registry = _Registry(tmp_path_factory.mktemp("portable"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for f, (family, space) in enumerate(FAMILIES.items()):
        data = _data(_shape(space))
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=7))
        for i, forced in enumerate(_draws(space, f * DRAWS)):
            for _attempt in range(20):  # a draw whose layers do not fit the input: draw again
                study.enqueue_trial(forced, skip_if_exists=False)
                trial = study.ask()
                candidate = space.sample(TrialParams(trial))
                try:
                    model = space.build_model(candidate, data.input_shape, data.num_classes)
                    break
                except UnbuildableError:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                pytest.fail(f"{family}: no buildable draw for {forced}")
            space.compile(model, candidate, jit=False)  # compiled as a search compiles it
            registry.log(f"{family}-{i}", model, data, _tell(study, trial))

    # the champion of the reported bug: LeNet with the KL divergence and label smoothing
    lenet = FAMILIES["lenet"]
    data = _data(_shape(lenet))
    study = optuna.create_study(direction="maximize")
    preset = dict(lenet.presets[next(iter(lenet.presets))].params)
    study.enqueue_trial({**preset, "loss": "kl_divergence", "label_smoothing_on": True, "label_smoothing": 0.1})
    trial = study.ask()
    candidate = lenet.sample(TrialParams(trial))
    assert candidate.train.loss == "kl_divergence" and candidate.train.label_smoothing == pytest.approx(0.1)
    model = lenet.build_model(candidate, data.input_shape, data.num_classes)
    lenet.compile(model, candidate, jit=False)
    _train_one_step(model, data)
    best = _tell(study, trial)
    registry.log("lenet-kl-smoothed", model, data, best)

    # an ensemble of a trial's model and a compiled (refit) model with that loss
    other = lenet.build_model(candidate, data.input_shape, data.num_classes)
    lenet.compile(other, candidate, jit=False)
    _train_one_step(other, data)
    averaged = average_model([model, other], [0.5, 0.5], data.input_shape)
    ensemble = Ensemble((best.number, best.number), (0.5, 0.5), 0.5, 0.5, best.number, averaged)
    registry.log("lenet-ensemble", averaged, data, best, ensemble)

    # a user's keras-tuner build(hp), compiled by the user
    user = load_space(f"{ROOT}/tests/user_project/kt_getting_started.py:build_model")
    data = _data((28, 28, 1))
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    for i in range(2):
        trial = study.ask()
        candidate = user.sample(TrialParams(trial))
        model = user.build_model(candidate, data.input_shape, data.num_classes)
        user.compile(model, candidate, jit=False)
        registry.log(f"user-{i}", model, data, _tell(study, trial))
    return registry


def test_the_draws_cover_every_shared_choice(registry: _Registry) -> None:
    params = [logged.params for logged in registry.logged]
    assert {p.get("optimizer") for p in params} >= set(OPTIMIZERS)
    assert {p.get("loss") for p in params} >= set(LOSSES)
    assert {p.get("lr_schedule") for p in params} >= set(SCHEDULES)
    assert {p.get("activation") for p in params} >= set(ACTIVATIONS)
    assert any(p.get("loss") == "kl_divergence" and p.get("label_smoothing_on") for p in params)
    assert any(p.get("weight_decay_on") for p in params)


def test_every_registered_model_loads_and_predicts_without_the_platform(registry: _Registry, tmp_path: Path) -> None:
    shapes = {logged.name: list(logged.input_shape) for logged in registry.logged}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    done = subprocess.run(
        [sys.executable, "-c", LOADER, registry.uri, json.dumps(shapes), ",".join(TRAINED_FURTHER)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULTS "))
    results = json.loads(line.removeprefix("RESULTS "))
    assert results.pop("_modules") == []
    failed = {name: r["error"] for name, r in results.items() if "error" in r}
    assert not failed, failed
    for logged in registry.logged:
        result = results[logged.name]
        assert result["shape"] == [BATCH, 10], logged.name
        assert np.allclose(result["sums"], 1.0, atol=1e-4), (logged.name, result["sums"])
    # how to train further, with Keras' own objects only: the searched loss's Keras equivalent
    recipe = results["lenet-kl-smoothed"]["metadata"]["compile"]
    assert recipe["loss"]["class_name"] == "CategoricalCrossentropy"
    assert recipe["loss"]["config"]["label_smoothing"] == pytest.approx(0.1)
    assert recipe["searched_loss"]["config"]["label_smoothing"] == pytest.approx(0.1)
    assert recipe["optimizer"]["module"].startswith("keras")
    assert results["lenet-kl-smoothed"]["metadata"]["params"]["loss"] == "kl_divergence"
    for name in TRAINED_FURTHER:
        assert np.isfinite(results[name]["trained_loss"]), name
    assert results["lenet-ensemble"]["metadata"]["compile"] is None
