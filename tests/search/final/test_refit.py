"""``--refit``: the best configuration trained again on training + validation images is the final model."""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from optuna.artifacts import FileSystemArtifactStore, download_artifact
from optuna.trial import TrialState, create_trial

from search import predict, run
from search.data import load_dataset
from search.final import FINAL_MODEL_ATTR, plan_refit, refit, refit_reserve
from search.policy import DEFAULT_TIME_POLICY
from search.results import load_best_model
from search.trials import MODEL_ARTIFACT_ATTR
from spaces import get_space

STUDY = "lenet-fashion_mnist"


@dataclass(frozen=True)
class Refitted:
    folder: Path
    storage: str
    tracking_uri: str
    out: str

    def study(self) -> optuna.Study:
        return optuna.load_study(study_name=STUDY, storage=self.storage)


@pytest.fixture(scope="module")
def refitted(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Refitted:
    folder = tmp_path_factory.mktemp("refitted")
    done = Refitted(folder, f"sqlite:///{folder}/optuna.db", f"sqlite:///{folder}/mlruns/mlflow.db", "")
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert run.main([
            "--study", "lenet", "--storage", done.storage, "--artifacts", str(folder / "artifacts"),
            "--tracking-uri", done.tracking_uri, "--limit", "300", "--seed", "3", "--max-epochs", "3",
            "--n-trials", "2", "--pruner", "none", "--enqueue-presets", "--refit",
        ]) == 0  # fmt: skip
    return Refitted(folder, done.storage, done.tracking_uri, capture.getvalue())


def _model_weights(folder: Path, artifact_id: str) -> list[np.ndarray]:
    import keras

    path = folder / f"{artifact_id}.keras"
    download_artifact(artifact_store=FileSystemArtifactStore(str(folder / "artifacts")), file_path=str(path), artifact_id=artifact_id)
    return keras.models.load_model(path).get_weights()


def test_the_refit_of_the_best_trial_is_the_final_model(refitted: Refitted) -> None:
    study = refitted.study()
    best = study.best_trial
    final = study.user_attrs[FINAL_MODEL_ATTR]
    assert final["trial"] == best.number
    assert final["images"] == 300  # 270 training + 30 validation images
    assert final["epochs"] == best.user_attrs["best_epoch"]  # the epoch its validation accuracy peaked
    evaluation = study.user_attrs["test_evaluation"]
    assert evaluation["trial"] == best.number
    assert evaluation["refit"] == {"epochs": final["epochs"], "images": 300, "seconds": final["seconds"]}
    assert f"refit on 300 training + validation images for {final['epochs']} epochs" in refitted.out
    model, trial = load_best_model(study, str(refitted.folder / "artifacts"))
    assert trial.number == best.number
    loaded = model.get_weights()
    refit_weights = _model_weights(refitted.folder, final["artifact_id"])
    own_weights = _model_weights(refitted.folder, best.user_attrs[MODEL_ARTIFACT_ATTR])
    assert all(np.array_equal(a, b) for a, b in zip(loaded, refit_weights, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(loaded, own_weights, strict=True))


def test_the_refit_is_logged_to_mlflow(refitted: Refitted) -> None:
    client = MlflowClient(refitted.tracking_uri)
    study = refitted.study()
    (experiment,) = [e for e in client.search_experiments() if e.name == STUDY]
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("search.role") == "parent")
    metrics = parent.data.metrics
    assert metrics["refit_images"] == 300
    assert metrics["refit_epochs"] == study.user_attrs[FINAL_MODEL_ATTR]["epochs"]
    assert metrics["test_accuracy"] == pytest.approx(study.user_attrs["test_evaluation"]["accuracy"])
    best_run = next(r for r in runs if r.data.tags.get("optuna.trial_number") == str(study.best_trial.number))
    assert best_run.data.metrics["refit_test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert "test_accuracy" not in best_run.data.metrics  # not the trial's own model's score
    artifacts = [f.path for f in client.list_artifacts(parent.info.run_id, "model")]
    assert artifacts == [f"model/final-trial-{study.best_trial.number}.keras"]


def test_predict_says_it_uses_the_refit(refitted: Refitted, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    data = load_dataset("fashion_mnist", limit=300, seed=3)
    path = tmp_path / "one.png"
    Image.fromarray((data.x_test[0, :, :, 0] * 255).round().astype(np.uint8)).save(path)
    capsys.readouterr()
    args = ["--study", "lenet", "--storage", refitted.storage, "--artifacts", str(refitted.folder / "artifacts")]
    assert predict.main([*args, str(path)]) == 0
    assert "refit on 300 images for" in capsys.readouterr().out


def test_no_refit_starts_without_the_time_it_needs(refitted: Refitted, caplog: pytest.LogCaptureFixture) -> None:
    study = refitted.study()
    before = study.user_attrs[FINAL_MODEL_ATTR]
    data = load_dataset("fashion_mnist", limit=300, seed=3)
    fit = refit(study, study.best_trial, get_space("lenet"), data, end=time.monotonic(), artifact_store=None)
    assert fit is None
    assert "no time left to refit trial" in caplog.text
    assert study.user_attrs[FINAL_MODEL_ATTR] == before  # the stored final model is kept


def test_the_reserve_is_the_refit_time_of_the_best_trial(refitted: Refitted) -> None:
    study = refitted.study()
    data = load_dataset("fashion_mnist", limit=300, seed=3)
    plan = plan_refit(study.best_trial, data)
    assert plan is not None and refit_reserve(study, data) == plan.seconds
    empty = optuna.create_study(direction="maximize")
    assert refit_reserve(empty, data) == 0.0


def _trial(**attrs: object) -> optuna.trial.FrozenTrial:
    return create_trial(state=TrialState.COMPLETE, value=0.9, user_attrs=attrs)


def test_a_plan_trains_to_the_best_epoch_on_more_images(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist", limit=1000, seed=0)  # 900 train / 100 val
    plan = plan_refit(_trial(seconds_per_epoch=10.0, best_epoch=4, epochs_run=6, epochs_planned=6), data)
    assert plan is not None
    assert (plan.epochs, plan.schedule_epochs) == (4, 6)
    assert plan.seconds == pytest.approx(10.0 * 4 * 1000 / 900 * DEFAULT_TIME_POLICY.refit_safety)


def test_a_plan_trains_to_the_end_of_the_plateau_around_the_best_epoch(keras_home: Path) -> None:
    """003 in make run: best 0.926 after 6 epochs, within a standard error of it after 7 and 9,
    below after 10. On 6,000 validation images one standard error is 0.0034."""
    data = load_dataset("fashion_mnist", limit=60_000, seed=0)
    curve = [0.842, 0.896, 0.909, 0.915, 0.918, 0.926, 0.923, 0.919, 0.924, 0.920]
    attrs = {"seconds_per_epoch": 30.0, "best_epoch": 6, "epochs_run": 10, "epochs_planned": 10}
    plateau = create_trial(state=TrialState.COMPLETE, value=0.926, user_attrs=attrs, intermediate_values=dict(enumerate(curve)))
    plan = plan_refit(plateau, data)
    assert plan is not None and plan.epochs == 9
    falling = dict(enumerate([*curve[:6], 0.915, 0.912, 0.910, 0.905]))
    plan = plan_refit(create_trial(state=TrialState.COMPLETE, value=0.926, user_attrs=attrs, intermediate_values=falling), data)
    assert plan is not None and plan.epochs == 6  # after its best it fell below: the best epoch


def test_a_trial_cut_by_its_time_budget_while_improving_is_refit_for_all_it_planned(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist", limit=1000, seed=0)
    improving = _trial(seconds_per_epoch=10.0, best_epoch=8, epochs_run=8, epochs_planned=12, stopped_by_time_budget=True)
    plan = plan_refit(improving, data)
    assert plan is not None and plan.epochs == 12
    # stopped a few batches into epoch 8: its best at epoch 7, the last whole one, it was improving
    cut = _trial(seconds_per_epoch=10.0, best_epoch=7, epochs_run=8, epochs_planned=12, stopped_by_time_budget=True)
    plan = plan_refit(cut, data)
    assert plan is not None and plan.epochs == 12
    peaked = _trial(seconds_per_epoch=10.0, best_epoch=5, epochs_run=8, epochs_planned=12, stopped_by_time_budget=True)
    plan = plan_refit(peaked, data)
    assert plan is not None and plan.epochs == 5
    assert plan_refit(_trial(best_epoch=5), data) is None  # no pace recorded: nothing to plan with


def test_the_reserve_leaves_the_search_at_least_half_of_the_budget(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist", limit=1000, seed=0)
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(seconds_per_epoch=100.0, best_epoch=10, epochs_run=10, epochs_planned=10))
    full = refit_reserve(study, data)  # about 1,400 s on this slow machine
    assert full > 600
    assert refit_reserve(study, data, budget=1200) == pytest.approx(600)  # half of --timeout 20m
    assert refit_reserve(study, data, budget=1e6) == pytest.approx(full)  # a long budget: all it needs


def test_a_refit_short_of_time_trains_fewer_epochs_down_to_half(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist", limit=1000, seed=0)
    plan = plan_refit(_trial(seconds_per_epoch=10.0, best_epoch=8, epochs_run=10, epochs_planned=10), data)
    assert plan is not None and plan.within(plan.seconds) is plan
    shrunk = plan.within(plan.seconds * 5 / 8)
    assert shrunk is not None and shrunk.epochs == shrunk.schedule_epochs == 5  # the schedule spans them
    assert shrunk.seconds <= plan.seconds * 5 / 8
    assert plan.within(plan.seconds * 3 / 8) is None  # under half its epochs: the trial's own model


def test_a_trial_its_budget_cut_short_is_refit_for_the_epochs_it_validated(keras_home: Path) -> None:
    """Cut after 3 of 10 planned epochs while improving, a trial plans a refit of 10; with time for
    3 it is refit for those 3 (what validation backed), not dropped for missing half of 10."""
    data = load_dataset("fashion_mnist", limit=1000, seed=0)
    cut = _trial(seconds_per_epoch=10.0, best_epoch=3, epochs_run=3, epochs_planned=10, stopped_by_time_budget=True)
    plan = plan_refit(cut, data)
    assert plan is not None and plan.epochs == 10
    shrunk = plan.within(plan.seconds * 3.5 / 10)
    assert shrunk is not None and shrunk.epochs == shrunk.schedule_epochs == 3
    assert plan.within(plan.seconds * 2.5 / 10) is None  # fewer than it validated: its own model

