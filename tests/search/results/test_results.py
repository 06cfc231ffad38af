"""``search.results``: the best trial, the comparison row and the final model, read back from real
Optuna studies in SQLite that are built from hand-made trials (no training)."""

from __future__ import annotations

import datetime
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from search.core import UsageError
from search.final import FINAL_MODEL_ATTR, MODEL_CHOICE_ATTR
from search.results import (
    best_trial,
    final_model_of,
    load_best_model,
    load_study,
    open_studies,
    studies_of_space,
    study_name_for,
    study_row,
)
from search.trials import MODEL_ARTIFACT_ATTR

LR = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}


def _study(tmp_path: Path, name: str = "s", directions: list[str] | None = None) -> optuna.Study:
    return optuna.create_study(
        study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db", directions=directions or ["maximize"]
    )


def _trial(
    state: TrialState = TrialState.COMPLETE,
    value: float | None = None,
    *,
    values: list[float] | None = None,
    seconds: float | None = None,
    **user_attrs: object,
) -> FrozenTrial:
    trial = create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE and values is None else None,
        values=values,
        params={"lr": 0.01},
        distributions=LR,
        user_attrs=user_attrs,
        intermediate_values={0: value} if value is not None and state != TrialState.COMPLETE else None,
    )
    if seconds is not None:
        start = datetime.datetime(2026, 1, 1, 12, 0, 0)
        trial.datetime_start = start
        trial.datetime_complete = start + datetime.timedelta(seconds=seconds)
    return trial


# --- best_trial -----------------------------------------------------------------------------------


def test_best_trial_is_the_complete_trial_of_highest_accuracy(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.add_trial(_trial(value=0.80))
    study.add_trial(_trial(value=0.91))
    study.add_trial(_trial(TrialState.PRUNED, 0.99))  # a pruned trial's report never counts
    study.add_trial(_trial(TrialState.FAIL))
    study.add_trial(_trial(value=0.85))
    best = best_trial(study)
    assert best is not None
    assert (best.number, best.value) == (1, 0.91)


def test_best_trial_is_none_without_a_complete_trial(tmp_path: Path) -> None:
    study = _study(tmp_path)
    assert best_trial(study) is None
    study.add_trial(_trial(TrialState.PRUNED, 0.7))
    study.add_trial(_trial(TrialState.FAIL))
    study.add_trial(_trial(TrialState.WAITING))
    study.add_trial(_trial(TrialState.RUNNING))
    assert best_trial(study) is None


def test_best_trial_follows_the_cross_validation_choice_while_its_rival_is_still_best(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.add_trial(_trial(value=0.90))
    study.add_trial(_trial(value=0.89))
    # cross-validation preferred trial 1 over trial 0, the best on validation images alone
    study.set_user_attr(MODEL_CHOICE_ATTR, {"trial": 1, "validation_best": 0})
    assert best_trial(study).number == 1  # type: ignore[union-attr]
    # a later trial beats trial 0: the choice was made over another best and no longer holds
    study.add_trial(_trial(value=0.95))
    assert best_trial(study).number == 2  # type: ignore[union-attr]


def test_a_choice_naming_a_trial_that_is_not_complete_falls_back_to_the_best(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.add_trial(_trial(value=0.90))
    study.add_trial(_trial(TrialState.PRUNED, 0.5))
    study.set_user_attr(MODEL_CHOICE_ATTR, {"trial": 1, "validation_best": 0})
    assert best_trial(study).number == 0  # type: ignore[union-attr]


def test_best_trial_of_a_multi_objective_study_has_the_highest_accuracy_on_the_front(tmp_path: Path) -> None:
    study = _study(tmp_path, directions=["maximize", "minimize"])
    study.add_trial(_trial(values=[0.80, 10.0]))  # fast: on the front
    study.add_trial(_trial(values=[0.90, 100.0]))  # accurate: on the front
    study.add_trial(_trial(values=[0.85, 200.0]))  # dominated by trial 1
    study.add_trial(_trial(TrialState.PRUNED))
    assert {t.number for t in study.best_trials} == {0, 1}
    best = best_trial(study)
    assert best is not None and best.number == 1


# --- study_row ------------------------------------------------------------------------------------


def test_study_row_counts_states_and_reads_the_best_trials_attributes(tmp_path: Path) -> None:
    study = _study(tmp_path, name="lenet-fashion_mnist")
    study.set_user_attr("family", "lenet")
    study.set_user_attr("dataset", "fashion_mnist")
    study.add_trial(_trial(value=0.80, seconds=10, training_seconds=9.0, param_count=1000))
    study.add_trial(_trial(value=0.92, seconds=20, training_seconds=18.5, param_count=2500))
    study.add_trial(_trial(TrialState.PRUNED, 0.5, seconds=4))
    study.add_trial(_trial(TrialState.PRUNED, 0.4, seconds=3))
    study.add_trial(_trial(TrialState.FAIL, seconds=1.5))
    study.set_user_attr("test_evaluation", {"trial": 1, "accuracy": 0.9012})

    row = study_row(study)
    assert row.study == "lenet-fashion_mnist"
    assert (row.family, row.dataset, row.engine) == ("lenet", "fashion_mnist", "optuna")
    assert (row.complete, row.pruned, row.failed) == (2, 2, 1)
    assert row.best_trial == 1
    assert row.best_val_accuracy == pytest.approx(0.92)
    assert row.test_accuracy == pytest.approx(0.9012)
    assert row.best_training_seconds == pytest.approx(18.5)
    assert row.best_params == 2500
    assert row.search_seconds == pytest.approx(10 + 20 + 4 + 3 + 1.5)
    assert row.as_dict()["best_trial"] == 1
    assert set(row.as_dict()) == {f for f in row.__dataclass_fields__}


def test_study_row_hides_a_test_accuracy_of_a_trial_that_is_no_longer_best(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.set_user_attr("engine", "keras-tuner")
    study.add_trial(_trial(value=0.80))
    study.set_user_attr("test_evaluation", {"trial": 0, "accuracy": 0.79})
    assert study_row(study).test_accuracy == pytest.approx(0.79)
    study.add_trial(_trial(value=0.85))  # evaluated trial 0 is no longer the best
    row = study_row(study)
    assert row.best_trial == 1
    assert row.test_accuracy is None
    assert row.engine == "keras-tuner"


def test_study_row_of_a_study_without_a_complete_trial(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.add_trial(_trial(TrialState.PRUNED, 0.3, seconds=2))
    study.add_trial(_trial(TrialState.RUNNING))  # still running: no duration yet
    study.set_user_attr("test_evaluation", {"trial": 0, "accuracy": 0.3})
    row = study_row(study)
    assert (row.complete, row.pruned, row.failed) == (0, 1, 0)
    assert row.best_trial is None
    assert row.best_val_accuracy is None
    assert row.test_accuracy is None
    assert row.best_training_seconds is None and row.best_params is None
    assert row.search_seconds == pytest.approx(2.0)
    assert (row.family, row.dataset) == ("", "")


def test_study_row_of_a_multi_objective_study_reports_the_accuracy(tmp_path: Path) -> None:
    study = _study(tmp_path, directions=["maximize", "minimize"])
    study.add_trial(_trial(values=[0.70, 5.0]))
    study.add_trial(_trial(values=[0.88, 50.0], param_count=123))
    row = study_row(study)
    assert (row.best_trial, row.best_val_accuracy, row.best_params) == (1, pytest.approx(0.88), 123)


# --- opening studies by name ----------------------------------------------------------------------


def test_open_studies_in_the_order_asked_and_every_study_by_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    for name in ("a", "b", "c"):
        optuna.create_study(study_name=name, storage=url)
    assert [s.study_name for s in open_studies(url, ["c", "a"])] == ["c", "a"]
    assert sorted(s.study_name for s in open_studies(url)) == ["a", "b", "c"]
    assert load_study(url, "b").study_name == "b"


def test_a_missing_study_is_a_usage_error_naming_what_the_storage_has(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    optuna.create_study(study_name="there", storage=url)
    with pytest.raises(UsageError, match=r"no study 'gone' in .*; it has: there$"):
        load_study(url, "gone")


def test_an_unopenable_storage_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        open_studies(f"sqlite:///{tmp_path}/no/such/folder/optuna.db")


def test_study_name_for_matches_search_run() -> None:
    assert study_name_for("lenet", None, None) == "lenet-fashion_mnist"
    assert study_name_for("cnn", "mnist", None) == "cnn-mnist"
    assert study_name_for("cnn", None, "mine") == "mine"
    assert study_name_for("cnn", None, None, engine="keras-tuner", tuner="random") != study_name_for("cnn", None, None)
    with pytest.raises(UsageError):
        study_name_for("no-such-family", None, None)


def test_studies_of_space_keeps_the_studies_that_searched_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    by_family = optuna.create_study(study_name="old", storage=url)
    by_family.set_user_attr("family", "lenet")  # studies written before "space" was recorded
    by_space = optuna.create_study(study_name="new", storage=url)
    by_space.set_user_attr("space", "lenet")
    other = optuna.create_study(study_name="other", storage=url)
    other.set_user_attr("space", "cnn")
    kept = studies_of_space(open_studies(url), "lenet")
    assert sorted(s.study_name for s in kept) == ["new", "old"]
    with pytest.raises(UsageError):
        studies_of_space(open_studies(url), "no-such-space")


# --- the final model ------------------------------------------------------------------------------


def test_final_model_of_only_the_refit_trial(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.add_trial(_trial(value=0.8))
    study.add_trial(_trial(value=0.9))
    first, second = study.get_trials()
    assert final_model_of(study, second) is None
    study.set_user_attr(FINAL_MODEL_ATTR, {"trial": 1, "artifact_id": "abc", "epochs": 3})
    assert final_model_of(study, second) == {"trial": 1, "artifact_id": "abc", "epochs": 3}
    assert final_model_of(study, first) is None
    study.set_user_attr(FINAL_MODEL_ATTR, {"trial": 1, "artifact_id": ""})  # refit kept no model
    assert final_model_of(study, second) is None


def test_load_best_model_without_a_model_is_a_usage_error(tmp_path: Path) -> None:
    study = _study(tmp_path, name="empty")
    with pytest.raises(UsageError, match="empty has no completed trial"):
        load_best_model(study, str(tmp_path / "artifacts"))
    study.add_trial(_trial(value=0.9))
    with pytest.raises(UsageError, match="best trial 0 of empty kept no model"):
        load_best_model(study, str(tmp_path / "artifacts"))
    study.add_trial(_trial(value=0.95, **{MODEL_ARTIFACT_ATTR: "not-in-the-store"}))
    with pytest.raises(UsageError, match=r"model of trial 1 is not in .*pass --artifacts"):
        load_best_model(study, str(tmp_path / "artifacts"))


def test_load_best_model_prefers_the_refit_of_the_best_trial(tmp_path: Path) -> None:
    import keras
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    store_dir = tmp_path / "artifacts"
    store_dir.mkdir()
    store = FileSystemArtifactStore(str(store_dir))
    study = _study(tmp_path)

    def upload(units: int, name: str) -> str:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, name="out")], name=name)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)

    study.add_trial(_trial(value=0.7, **{MODEL_ARTIFACT_ATTR: upload(2, "worse")}))
    study.add_trial(_trial(value=0.9, **{MODEL_ARTIFACT_ATTR: upload(3, "trained")}))
    model, trial = load_best_model(study, str(store_dir))
    assert trial.number == 1
    assert (model.name, model.output_shape) == ("trained", (None, 3))

    study.set_user_attr(FINAL_MODEL_ATTR, {"trial": 1, "artifact_id": upload(5, "refit")})
    model, trial = load_best_model(study, str(store_dir))
    assert trial.number == 1
    assert (model.name, model.output_shape) == ("refit", (None, 5))
    # a refit of a trial that is no longer the best is not its model
    study.set_user_attr(FINAL_MODEL_ATTR, {"trial": 0, "artifact_id": upload(7, "stale")})
    model, _ = load_best_model(study, str(store_dir))
    assert model.name == "trained"
