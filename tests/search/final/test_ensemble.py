"""``--ensemble``: members chosen on validation images, one averaged Keras model, stored and reloaded."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from search.data import Dataset
from search.final import average_model, build_ensemble, log_loss, save_ensemble, select
from search.trials import MODEL_ARTIFACT_ATTR

CLASSES = 10


def _data(n_per_class: int = 20) -> Dataset:
    """Images of shape 1x1x10 that are the one-hot code of their class: a model's kernel says
    exactly what it predicts for each class."""
    y = np.repeat(np.arange(CLASSES), n_per_class)
    x = np.eye(CLASSES, dtype=np.float32)[y].reshape(-1, 1, 1, CLASSES)
    names = tuple(f"c{i}" for i in range(CLASSES))
    return Dataset("codes", names, x, y, x, y, x, y)


def _model(right: range) -> keras.Model:
    """A model sure of the classes in ``right`` (0.69); for the others it prefers the next class
    (0.41) to the right one (0.15)."""
    kernel = np.zeros((CLASSES, CLASSES), dtype=np.float32)
    for c in range(CLASSES):
        if c in right:
            kernel[c, c] = 3.0
        else:
            kernel[c, c], kernel[c, (c + 1) % CLASSES] = 1.0, 2.0
    inputs = keras.Input((1, 1, CLASSES))
    dense = keras.layers.Dense(CLASSES, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([kernel, np.zeros(CLASSES, dtype=np.float32)])
    return model


def _accuracy(model: keras.Model, data: Dataset) -> float:
    return float(np.mean(np.argmax(model.predict(data.x_val, verbose=0), axis=1) == data.y_val))


def _study_with(models: list[keras.Model], data: Dataset, store: FileSystemArtifactStore) -> optuna.Study:
    """A study whose complete trials kept ``models``; each trial's value is its model's accuracy."""
    study = optuna.create_study(direction="maximize")
    for i, model in enumerate(models):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.keras"
            model.save(path)
            artifact = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)
        study.add_trial(
            create_trial(
                params={"x": float(i)}, distributions={"x": FloatDistribution(0, 10)},
                value=_accuracy(model, data), state=TrialState.COMPLETE, user_attrs={MODEL_ARTIFACT_ATTR: artifact},
            )
        )  # fmt: skip
    return study


def test_select_adds_only_models_that_lower_the_validation_loss() -> None:
    y = np.array([0, 1, 2, 3])
    good = np.full((4, 4), 0.1) + np.eye(4) * 0.6  # 0.7 on the right class
    same = good.copy()
    bad = np.roll(good, 1, axis=1)  # 0.7 on a wrong class
    assert select([good, same, bad], y, rounds=5) == [1, 0, 0]  # nothing helps: the best alone
    left = good.copy()
    left[2:] = bad[2:]  # right on the first half only
    right = good.copy()
    right[:2] = bad[:2]  # right on the second half only
    counts = select([left, right], y, rounds=5)
    assert counts[0] >= 1 and counts[1] >= 1
    mean = (counts[0] * left + counts[1] * right) / sum(counts)
    assert log_loss(mean, y) < min(log_loss(left, y), log_loss(right, y))
    assert select([left, right], y, rounds=1) == [1, 0]  # one round: the first model alone


def test_ensemble_of_complementary_models(tmp_path: Path) -> None:
    data = _data()
    store = FileSystemArtifactStore(str(tmp_path))
    first, second = _model(range(0, 7)), _model(range(3, 10))  # 0.7 each, right together
    study = _study_with([first, second, _model(range(0, 7))], data, store)  # the third: a copy of the first
    ensemble = build_ensemble(study, study.trials[0], data, store, size=3)
    assert ensemble is not None
    assert ensemble.members == (0, 1)  # the copy of the first adds nothing
    assert ensemble.weights == (0.5, 0.5)
    assert ensemble.best_val_accuracy == pytest.approx(0.7)
    assert ensemble.val_accuracy == pytest.approx(1.0)
    # the one averaged model predicts the mean of its members
    expected = 0.5 * first.predict(data.x_val, verbose=0) + 0.5 * second.predict(data.x_val, verbose=0)
    np.testing.assert_allclose(ensemble.model.predict(data.x_val, verbose=0), expected, atol=1e-5)
    # stored and loaded back, as search.predict does
    path = tmp_path / "loaded.keras"
    download_artifact(artifact_store=store, file_path=str(path), artifact_id=save_ensemble(study, ensemble, store))
    np.testing.assert_allclose(keras.models.load_model(path).predict(data.x_val, verbose=0), expected, atol=1e-5)


def test_no_ensemble_when_nothing_helps_the_best(tmp_path: Path) -> None:
    data = _data()
    store = FileSystemArtifactStore(str(tmp_path))
    study = _study_with([_model(range(0, 7)), _model(range(0, 3))], data, store)  # the second is worse everywhere
    assert build_ensemble(study, study.trials[0], data, store, size=3) is None


def test_the_refit_shares_the_best_members_weight(tmp_path: Path) -> None:
    data = _data()
    store = FileSystemArtifactStore(str(tmp_path))
    first, second = _model(range(0, 7)), _model(range(3, 10))
    study = _study_with([first, second], data, store)
    refit = _model(range(0, 10))  # the best configuration trained on more images: right everywhere
    ensemble = build_ensemble(study, study.trials[0], data, store, size=2, refit_model=refit)
    assert ensemble is not None and ensemble.refit_member == 0
    assert ensemble.describe() == "trials 0 (and its refit), 1 (weights 0.50, 0.50)"
    # chosen with the trial's own model (0.7 alone, 1.0 together); the refit joins it at half its weight
    assert ensemble.best_val_accuracy == pytest.approx(0.7)
    expected = sum(
        w * m.predict(data.x_val, verbose=0) for w, m in ((0.25, first), (0.25, refit), (0.5, second))
    )
    np.testing.assert_allclose(ensemble.model.predict(data.x_val, verbose=0), expected, atol=1e-5)


def test_average_model_weights() -> None:
    data = _data(2)
    a, b = _model(range(0, 10)), _model(range(0, 0))
    averaged = average_model([a, b], [3, 1], (1, 1, CLASSES))
    np.testing.assert_allclose(
        averaged.predict(data.x_val, verbose=0),
        0.75 * a.predict(data.x_val, verbose=0) + 0.25 * b.predict(data.x_val, verbose=0),
        atol=1e-6,
    )


STUDY = "lenet-fashion_mnist"


@pytest.fixture(scope="module")
def averaged(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``search.run --ensemble 3 --refit`` over three trainings of the LeNet-5 preset (different
    random starts: averaging them lowers the validation loss) and one more sampled trial."""
    from search import run
    from spaces import get_space

    folder = tmp_path_factory.mktemp("averaged")
    storage = f"sqlite:///{folder}/optuna.db"
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    preset = {**get_space("lenet").presets["doc000_lenet5"].params, "batch_size": 16}  # it learns in 2 epochs
    for _ in range(3):
        study.enqueue_trial(preset)
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert run.main([
            "--study", "lenet", "--storage", storage, "--artifacts", str(folder / "artifacts"),
            "--tracking-uri", f"sqlite:///{folder}/mlruns/mlflow.db", "--limit", "2000", "--seed", "2",
            "--max-epochs", "2", "--n-trials", "4", "--pruner", "none", "--ensemble", "3", "--refit",
            "--precision", "float32",  # the averaged weights are compared to float32 members
        ]) == 0  # fmt: skip
    return folder, capture.getvalue()


def test_search_run_makes_the_ensemble_the_final_model(averaged: tuple[Path, str]) -> None:
    from mlflow import MlflowClient

    from search.final import FINAL_MODEL_ATTR
    from search.results import load_best_model

    folder, out = averaged
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{folder}/optuna.db")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert all(MODEL_ARTIFACT_ATTR in t.user_attrs for t in complete)  # 4 trials, a library of 6: all kept
    final = study.user_attrs[FINAL_MODEL_ATTR]
    best = study.best_trial
    ensemble = final["ensemble"]
    assert final["trial"] == best.number == ensemble["members"][0] == ensemble["refit_member"]
    assert len(ensemble["members"]) >= 2 and sum(ensemble["weights"]) == pytest.approx(1.0, abs=1e-3)
    assert final["images"] == 2000 and final["refit_artifact_id"] != final["artifact_id"]
    evaluation = study.user_attrs["test_evaluation"]
    assert evaluation["ensemble"]["members"] == ensemble["members"]
    best_first = [f"{best.number} (and its refit)", *map(str, ensemble["members"][1:])]
    assert f"ensemble of trials {', '.join(best_first)}" in out
    # the ensemble is what search.predict loads: one model averaging its members
    model, trial = load_best_model(study, str(folder / "artifacts"))
    assert trial.number == best.number
    members = [layer for layer in model.layers if layer.name.startswith("member_")]
    assert len(members) == len(ensemble["members"]) + 1  # and the best trial's refit
    # MLflow: the parent run has the ensemble's test score, the best trial alone's, and the model
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name(STUDY)
    parent = next(r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("mlflow.runName", "").startswith("search "))
    metrics = parent.data.metrics
    assert metrics["test_accuracy"] == pytest.approx(evaluation["accuracy"])
    assert metrics["best_alone_test_accuracy"] == pytest.approx(evaluation["ensemble"]["best_alone_accuracy"])
    assert metrics["ensemble_size"] == len(ensemble["members"])
    artifacts = [a.path for a in client.list_artifacts(parent.info.run_id, "model")]
    assert artifacts == [f"model/ensemble-trial-{best.number}.keras"]
