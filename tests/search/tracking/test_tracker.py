"""The MLflow tracker on a small real search, read back with MLflow's client and Optuna's storage."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run
from optuna.trial import FrozenTrial, TrialState

from search import run
from search.data import load_dataset
from spaces import get_space

STUDY = "cnn-fashion_mnist"
LIMIT, SEED, EPOCHS = 300, 1, 3


@dataclass
class Searched:
    folder: Path
    client: MlflowClient
    study: optuna.Study
    experiment_id: str

    def runs(self) -> list[Run]:
        return self.client.search_runs([self.experiment_id], max_results=1000)

    def run_of(self, trial: FrozenTrial) -> Run:
        return self.client.get_run(str(trial.user_attrs["mlflow_run_id"]))

    def text(self, run_id: str, path: str) -> str:
        local = self.client.download_artifacts(run_id, path, str(self.folder / "download"))
        return Path(local).read_text()


def _args(folder: Path, *extra: str) -> list[str]:
    return [
        "--study", "cnn",
        "--storage", f"sqlite:///{folder}/optuna.db",
        "--artifacts", str(folder / "artifacts"),
        "--tracking-uri", f"sqlite:///{folder}/mlruns/mlflow.db",
        "--limit", str(LIMIT), "--seed", str(SEED), "--max-epochs", str(EPOCHS),
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def searched(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Searched:
    """A search with a failing, pruned and complete trials, logged to a real SQLite MLflow store."""
    folder = tmp_path_factory.mktemp("tracked")
    storage = f"sqlite:///{folder}/optuna.db"
    base = dict(get_space("cnn").presets["doc002_basic_cnn"].params)
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    bad = {**base, "n_blocks": 5, "convs_per_block": 3, "kernel_size": 5}  # 28x28 shrinks to nothing
    for i in range(3, 5):
        bad.update({f"filters_{i}": 8, f"pool_{i}": False, f"dropout_{i}": 0.0})
    study.enqueue_trial(bad)  # pruned at once: it cannot be built
    # a learning rate far out of the space's range: the loss overflows in the first batches, and the trial fails
    study.enqueue_trial({**base, "optimizer": "sgd", "momentum": 0.0, "learning_rate": 1e30})
    # One model that learns (Adam), then hopeless rates. With fewer competitors than the reduction
    # factor, successive halving promotes only a trial at least as good as the best at a rung, so
    # the hopeless ones are pruned; two models that both learn could tie or swap places.
    study.enqueue_trial({**base, "learning_rate": 1e-3, "optimizer": "adam"})
    for lr in (1e-5, 1.5e-5, 1e-5, 2e-5):
        study.enqueue_trial({**base, "learning_rate": lr, "optimizer": "sgd", "momentum": 0.0})
    assert run.main(_args(folder, "--n-trials", "7", "--pruner", "successive-halving")) == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name(STUDY)
    assert experiment is not None, "no MLflow experiment named after the study"
    return Searched(folder, client, optuna.load_study(study_name=STUDY, storage=storage), experiment.experiment_id)


def _parent(searched: Searched) -> Run:
    parents = [r for r in searched.runs() if r.data.tags.get("search.role") == "parent"]
    assert len(parents) == 1
    return parents[0]


def test_every_trial_is_one_nested_run_linked_both_ways(searched: Searched) -> None:
    trials = searched.study.get_trials()
    parent = _parent(searched)
    children = [r for r in searched.runs() if r.data.tags.get("search.role") != "parent"]
    assert len(children) == len(trials) == 7
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    assert sorted(by_number) == [t.number for t in trials]
    for trial in trials:
        child = by_number[trial.number]
        assert trial.user_attrs["mlflow_run_id"] == child.info.run_id
        assert child.info.run_name == f"trial-{trial.number}"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["optuna.study_name"] == STUDY
        assert child.data.tags["optuna.trial_state"] == trial.state.name
        for name, value in trial.params.items():  # every sampled parameter
            expected = f"{value:.6g}" if isinstance(value, float) else str(value)
            assert child.data.params[name] == expected
    assert parent.info.status == "FINISHED"
    assert parent.data.params["family"] == "cnn" and parent.data.params["pruner"] == "successive-halving"
    assert parent.data.params["precision"] in ("float32", "mixed_bfloat16")  # --precision auto on this CPU
    assert searched.study.user_attrs["mlflow_parent_run_ids"] == [parent.info.run_id]


def test_run_status_follows_the_trial_state(searched: Searched) -> None:
    trials = searched.study.get_trials()
    states = [t.state for t in trials]
    assert states == [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE] + [TrialState.PRUNED] * 4, states
    for trial in trials:
        info, tags = searched.run_of(trial).info, searched.run_of(trial).data.tags
        if trial.state == TrialState.COMPLETE:
            assert info.status == "FINISHED"
        elif trial.state == TrialState.PRUNED:
            assert info.status == "KILLED"
            assert tags["pruned_epoch"] == str(trial.user_attrs["pruned_epoch"])
        else:
            assert info.status == "FAILED"
            assert "loss became non-finite" in tags["error"]
    unbuildable = searched.run_of(trials[0]).data.tags
    assert unbuildable["pruned_epoch"] == "0"
    assert unbuildable["pruned_reason"].startswith("cannot be built: feature map")


def test_per_epoch_metrics_have_their_steps(searched: Searched) -> None:
    for trial in searched.study.get_trials(states=[TrialState.COMPLETE, TrialState.PRUNED]):
        run_id = str(trial.user_attrs["mlflow_run_id"])
        history = searched.client.get_metric_history(run_id, "val_accuracy")
        epochs = len(trial.intermediate_values)
        assert [m.step for m in history] == list(range(1, epochs + 1))
        # the values Optuna's pruner saw, epoch by epoch
        assert [m.value for m in history] == pytest.approx([trial.intermediate_values[e] for e in range(epochs)])
        for key in ("loss", "accuracy", "val_loss", "learning_rate", "epoch_seconds"):
            assert len(searched.client.get_metric_history(run_id, key)) == epochs, key
    best = searched.study.best_trial
    metrics = searched.run_of(best).data.metrics
    assert metrics["final_val_accuracy"] == pytest.approx(best.value)
    assert metrics["param_count"] == best.user_attrs["param_count"]
    assert metrics["training_seconds"] > 0 and metrics["images_per_second"] > 0


def test_trial_artifacts_hold_the_model_summary_and_learning_curves(searched: Searched) -> None:
    best = searched.study.best_trial
    run_id = str(best.user_attrs["mlflow_run_id"])
    summary = searched.text(run_id, "model_summary.txt")
    assert f"{best.user_attrs['param_count']:,}" in summary
    curves = searched.text(run_id, "learning_curves.html")
    assert "plotly" in curves and '"val_accuracy"' in curves and "epoch" in curves


def test_best_configuration_is_evaluated_on_the_test_set(searched: Searched) -> None:
    parent = _parent(searched)
    run_id = parent.info.run_id
    data = load_dataset("fashion_mnist", limit=LIMIT, seed=SEED, val_fraction=0.1)
    matrix = np.array(json.loads(searched.text(run_id, "evaluation/confusion_matrix.json")))
    assert matrix.shape == (10, 10) and matrix.sum() == len(data.y_test)
    rows = list(csv.DictReader(io.StringIO(searched.text(run_id, "evaluation/per_class.csv"))))
    assert [r["class"] for r in rows] == list(data.class_names)
    assert sum(int(r["support"]) for r in rows) == len(data.y_test)
    assert "| class | precision | recall | f1 | support |" in searched.text(run_id, "evaluation/per_class.md")
    html = searched.text(run_id, "evaluation/confusion_matrix.html")
    assert "heatmap" in html
    png = Path(searched.client.download_artifacts(run_id, "evaluation/confusion_matrix.png", str(searched.folder)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The logged model is the evaluated one: it scores the logged test accuracy again.
    (model_file,) = searched.client.list_artifacts(run_id, "model")
    model = keras.models.load_model(searched.client.download_artifacts(run_id, model_file.path, str(searched.folder)))
    accuracy = float(np.mean(np.argmax(model.predict(data.x_test, verbose=0), axis=1) == data.y_test))
    assert accuracy == pytest.approx(parent.data.metrics["test_accuracy"], abs=1e-6)
    assert np.trace(matrix) == round(accuracy * len(data.y_test))
    best_run = searched.run_of(searched.study.best_trial)
    assert best_run.data.metrics["test_accuracy"] == parent.data.metrics["test_accuracy"]


def test_next_invocation_is_a_second_parent_in_the_same_experiment(searched: Searched, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(searched.folder, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("download"))
    assert run.main(_args(tmp_path, "--n-trials", "1", "--pruner", "none", "--no-test")) == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiments = [e for e in client.search_experiments() if e.name == STUDY]
    assert len(experiments) == 1
    runs = client.search_runs([experiments[0].experiment_id])
    parents = [r for r in runs if r.data.tags.get("search.role") == "parent"]
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert len(runs) == 2 + 7 + 1  # two parents, the 7 trials of the first invocation and 1 of this one
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{tmp_path}/optuna.db")
    newest = max(study.get_trials(), key=lambda t: t.number)
    assert client.get_run(newest.user_attrs["mlflow_run_id"]).data.tags["mlflow.parentRunId"] in {
        p.info.run_id for p in parents
    } - set(study.user_attrs["mlflow_parent_run_ids"][:1])
