"""The trial record: every attribute a trial stores, through a real Optuna study in SQLite."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

from search.compat import storage_of, trial_id
from search.records import TrialKey, TrialRecord

#: the names studies on disk hold today: a renamed field would fail here before it hid the
#: attribute of every stored study
STORED_NAMES = (
    "search_run", "worker", "worker_process", "preset", "engine", "keras_tuner_trial",
    "keras_tuner_epochs", "keras_tuner_continues", "epochs_planned", "device", "resumed_from_trial", "resumed_from_epoch",
    "first_epoch_images", "param_count", "multiply_adds", "batch_size", "train_images",
    "predicted_seconds_per_epoch", "time_cap_seconds", "time_bound_seconds", "mlflow_run_id",
    "mlflow_experiment_id", "mlflow_run", "batch_seconds_per_epoch", "checkpoint_seconds_per_epoch",
    "stopped_by_time_budget", "val_accuracy", "best_epoch", "epochs_run", "training_seconds",
    "seconds_per_epoch", "images_per_second", "history", "model_artifact_id", "pruned_reason",
    "pruned_epoch", "fail_reason", "interrupted", "trial",
)  # fmt: skip

#: a value for every field
EVERY_FIELD = TrialRecord(
    search_run="run-1",
    worker="host:123",
    worker_process={"host": "host", "boot_id": "b", "pid_namespace": "", "pid": 123, "start_ticks": 99},
    preset="002",
    engine="keras-tuner",
    keras_tuner_trial="0007",
    keras_tuner_epochs=3,
    keras_tuner_continues="0002",
    epochs_planned=10,
    device="CPU (2 threads)",
    resumed_from_trial=4,
    resumed_from_epoch=2,
    first_epoch_images=5000,
    param_count=61_706,
    multiply_adds=420_000,
    batch_size=128,
    train_images=54_000,
    predicted_seconds_per_epoch=12.345,
    time_cap_seconds=106.5,
    time_bound_seconds=339.0,
    mlflow_run_id="abc",
    mlflow_experiment_id="1",
    mlflow_run="#/experiments/1/runs/abc",
    batch_seconds_per_epoch=11.5,
    checkpoint_seconds_per_epoch=0.0123,
    stopped_by_time_budget=True,
    val_accuracy=0.9065,
    best_epoch=3,
    epochs_run=4,
    training_seconds=48.25,
    seconds_per_epoch=12.062,
    images_per_second=4476.9,
    history={"loss": [0.6, 0.4], "val_accuracy": [0.85, None]},
    model_artifact_id="artifact-1",
    pruned_reason="pruner",
    pruned_epoch=4,
    fail_reason="ValueError: bad",
    interrupted=True,
    trial=12,
)


def _study(tmp_path: Path, name: str = "s") -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")
    return optuna.create_study(study_name=name, storage=storage, load_if_exists=True)


def _reloaded(tmp_path: Path, name: str = "s") -> optuna.trial.FrozenTrial:
    """The study's only trial, read back by a fresh storage (as another process would)."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db")
    (trial,) = optuna.load_study(study_name=name, storage=storage).get_trials()
    return trial


def test_the_record_names_every_field_by_the_name_studies_on_disk_hold() -> None:
    assert [f.name for f in dataclasses.fields(TrialRecord)] == list(STORED_NAMES)
    assert [k.value for k in TrialKey] == list(STORED_NAMES)
    assert all(v is not None for v in dataclasses.asdict(EVERY_FIELD).values())


def test_every_field_goes_through_a_sqlite_study_and_comes_back(tmp_path: Path) -> None:
    study = _study(tmp_path)
    trial = study.ask()
    EVERY_FIELD.write(trial)
    study.tell(trial, 0.9065)
    frozen = _reloaded(tmp_path)
    assert set(frozen.user_attrs) == set(STORED_NAMES)
    assert TrialRecord.of(frozen) == EVERY_FIELD
    assert frozen.user_attrs["epochs_planned"] == 10  # stored under its plain name, as before


def test_fields_written_at_different_moments_add_up_and_a_later_partial_record_keeps_the_rest(tmp_path: Path) -> None:
    study = _study(tmp_path)
    trial = study.ask()
    TrialRecord(epochs_planned=10, device="CPU").write(trial)
    TrialRecord(param_count=100).write(trial)
    TrialRecord(pruned_reason="pruner", pruned_epoch=1, epochs_run=1).write(trial)
    study.tell(trial, state=TrialState.PRUNED)
    record = TrialRecord.of(_reloaded(tmp_path))
    assert record == TrialRecord(epochs_planned=10, device="CPU", param_count=100, pruned_reason="pruner",
                                 pruned_epoch=1, epochs_run=1)  # fmt: skip
    assert record.val_accuracy is None and record.stopped_by_time_budget is None


def test_a_study_written_with_todays_raw_attribute_names_loads(tmp_path: Path) -> None:
    """What the objective wrote before the record existed: bare names, JSON values (a count
    written as 12.0 by another writer, names the record does not know)."""
    study = _study(tmp_path)
    trial = study.ask()
    for key, value in {
        "epochs_planned": 10, "device": "CPU (2 threads)", "first_epoch_images": 54000,
        "param_count": 61706.0, "multiply_adds": 420000, "batch_size": 128, "train_images": 54000,
        "predicted_seconds_per_epoch": 12.3, "time_cap_seconds": 106, "val_accuracy": 0.9,
        "best_epoch": 3, "epochs_run": 4, "training_seconds": 48, "seconds_per_epoch": 12.0,
        "images_per_second": 4476.9, "history": {"loss": [0.5, None]}, "stopped_by_time_budget": True,
        "search_run": "r", "preset": "002", "mlflow_run_id": "abc", "some_future_attr": "ignored",
    }.items():  # fmt: skip
        trial.set_user_attr(key, value)
    study.tell(trial, 0.9)
    record = TrialRecord.of(_reloaded(tmp_path))
    assert record.epochs_planned == 10 and record.param_count == 61706 and isinstance(record.param_count, int)
    assert record.training_seconds == 48.0 and isinstance(record.training_seconds, float)
    assert record.history == {"loss": [0.5, None]}
    assert record.stopped_by_time_budget is True and record.preset == "002" and record.mlflow_run_id == "abc"
    assert record.pace == 12.0
    assert "some_future_attr" not in record.attrs()


def test_the_pace_falls_back_on_the_first_batches() -> None:
    assert TrialRecord(seconds_per_epoch=4.0, batch_seconds_per_epoch=3.0).pace == 4.0
    assert TrialRecord(batch_seconds_per_epoch=3.0).pace == 3.0
    assert TrialRecord().pace is None


def test_the_mlflow_metrics_are_what_it_measured_with_its_best_accuracy_as_final_val_accuracy() -> None:
    assert EVERY_FIELD.metrics() == {
        "final_val_accuracy": 0.9065, "training_seconds": 48.25, "seconds_per_epoch": 12.062,
        "images_per_second": 4476.9, "param_count": 61706.0, "epochs_run": 4.0, "best_epoch": 3.0,
    }  # fmt: skip
    assert TrialRecord(training_seconds=2.0).metrics() == {"training_seconds": 2.0}


def test_a_record_is_written_to_a_trial_this_process_does_not_run(tmp_path: Path) -> None:
    study = _study(tmp_path)
    trial = study.ask()
    TrialRecord(fail_reason="its process 7 on h ended").write_to_storage(storage_of(study), trial_id(trial))
    study.tell(trial, state=TrialState.FAIL)
    assert TrialRecord.of(_reloaded(tmp_path)).fail_reason == "its process 7 on h ended"


def test_an_enqueued_trial_carries_the_record_it_was_queued_with(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.enqueue_trial({"x": 1.0}, user_attrs=TrialRecord(preset="001").attrs())
    trial = study.ask()
    assert TrialRecord.of(trial).preset == "001"


def test_importing_the_records_loads_neither_optuna_nor_tensorflow() -> None:
    heavy = ("optuna", "tensorflow", "keras", "mlflow")
    code = f"import sys, search.records; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
