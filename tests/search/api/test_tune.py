"""The Python API: ``search.tune`` with a build(hp) function defined in the caller's code, arrays
in memory, and a built-in family by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest

import search
from search.core import UsageError
from search.data import load_dataset


def build(hp):  # a notebook's build(hp), written as keras-tuner users write it
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
    model.add(keras.layers.Dense(hp.Int("units", 16, 64, step=16), activation=hp.Choice("act", ["relu", "tanh"])))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model  # not compiled: the platform's training knobs are searched


def test_tune_a_build_function_on_arrays(keras_home: Path, tmp_path: Path) -> None:
    data = load_dataset("fashion_mnist", limit=800, seed=1)
    arrays = (np.asarray(data.x_train), np.asarray(data.y_train), np.asarray(data.x_test), np.asarray(data.y_test))
    result = search.tune(
        build, arrays, n_trials=3, max_epochs=2, seed=1,
        storage=f"sqlite:///{tmp_path}/o.db", artifacts=str(tmp_path / "artifacts"),
        tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db",
    )  # fmt: skip
    assert result.study.study_name == "test_tune-arrays"  # a build function is named after its module
    assert len(result.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 3
    assert {"units", "act", "learning_rate", "optimizer"} <= set(result.best_params)
    assert result.best_value == max(t.value for t in result.study.trials if t.value is not None)
    assert result.model is not None and result.model.output_shape == (None, 10)
    predicted = np.argmax(result.model.predict(arrays[2], verbose=0), axis=1)
    assert result.test_accuracy == pytest.approx(float(np.mean(predicted == arrays[3])), abs=1e-6)


def test_tune_a_family_by_name_and_bad_options(keras_home: Path, tmp_path: Path) -> None:
    result = search.tune(
        "lenet", "fashion_mnist", n_trials=1, max_epochs=1, limit=400, track=False, evaluate=False,
        storage=f"sqlite:///{tmp_path}/o.db", artifacts=str(tmp_path / "artifacts"),
    )  # fmt: skip
    assert result.study.study_name == "lenet-fashion_mnist"
    assert result.test_accuracy is None and result.model is not None
    with pytest.raises(UsageError, match="no option max_epoch"):
        search.tune("lenet", max_epoch=3, storage=f"sqlite:///{tmp_path}/o.db")
    with pytest.raises(UsageError, match="--workers processes load the space"):
        search.tune(build, workers=2, storage=f"sqlite:///{tmp_path}/o.db")


def test_import_search_is_light() -> None:
    code = "import search, sys; print(sorted(m for m in ('tensorflow', 'optuna', 'mlflow') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
