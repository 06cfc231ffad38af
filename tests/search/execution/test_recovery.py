"""kill -9 at each point of a search, then the same command once: everything is recovered.

Each test starts ``python -m search.run`` as a real process, watches its files (a checkpoint, a log
line) until the phase it aims at is visible, sends SIGKILL, and runs the same command again, once.
The rerun must leave no trial RUNNING or WAITING, no MLflow run RUNNING, and the best model stored.

The default heartbeat (30 s, grace 90 s) is kept: a dead worker on this machine is found from its
process, not from its silence, so the rerun needs no grace period.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.results import best_trial
from search.training import Checkpoints
from search.trials import MODEL_ARTIFACT_ATTR, RUN_ATTR, is_retry
from tests.search.execution.test_workers import tracking, worker_env

STUDY = "lenet-fashion_mnist"
SMALL = ["--study", "lenet", "--limit", "2000", "--seed", "4", "--pruner", "none", "--no-test"]


def _start(tmp_path: Path, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in worker_env().items() if not k.startswith("SEARCH_")}  # default heartbeat
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "search.run", *args, *tracking(tmp_path)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _kill_when(process: subprocess.Popen[bytes], log: Path, seen: object, timeout: float = 300) -> None:
    """SIGKILL ``process`` as soon as ``seen()`` is true (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        if seen():  # type: ignore[operator]
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            return
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"never reached the phase to kill: {log.read_text()[-3000:]}")


def _rerun(tmp_path: Path, args: list[str]) -> str:
    log = tmp_path / "rerun.log"
    process = _start(tmp_path, args, log)
    assert process.wait(timeout=900) == 0, log.read_text()[-3000:]
    return log.read_text()


def _logged(log: Path, text: str) -> object:
    return lambda: log.is_file() and text in log.read_text()


def _checkpoint(tmp_path: Path, trial: int, epochs: int) -> object:
    meta = tmp_path / "artifacts" / "checkpoints" / STUDY / f"{trial}.json"
    return lambda: meta.is_file() and f'"epochs_done": {epochs}' in meta.read_text()


def _trials(tmp_path: Path) -> list[FrozenTrial]:
    storage = f"sqlite:///{tmp_path}/storage/optuna.db"
    return optuna.load_study(study_name=STUDY, storage=storage).get_trials()


def _check_recovered(tmp_path: Path) -> tuple[list[FrozenTrial], optuna.Study]:
    """Nothing RUNNING or WAITING, no MLflow run RUNNING, the best trial's model (or its refit) stored."""
    from mlflow import MlflowClient

    storage = f"sqlite:///{tmp_path}/storage/optuna.db"
    study = optuna.load_study(study_name=STUDY, storage=storage)
    trials = study.get_trials()
    left = [(t.number, t.state.name) for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not left, left
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'")
    assert not running, [(r.info.run_name, r.info.run_id) for r in running]
    best = best_trial(study)
    artifact = best.user_attrs.get(MODEL_ARTIFACT_ATTR)
    final = study.user_attrs.get("final_model", {})
    if artifact is None and final.get("trial") == best.number:
        # chosen by cross-validation among finalists, with --refit: its refit is its stored model
        artifact = final.get("artifact_id")
    assert artifact and (tmp_path / "artifacts" / str(artifact)).is_file()
    return trials, study


def _rerun_tag(trials: list[FrozenTrial], killed: int) -> str:
    return next(t.user_attrs[RUN_ATTR] for t in trials if killed in t.system_attrs.get("retry_history", ()))


def test_kill_during_an_epoch_the_rerun_resumes_the_trial_first_from_its_checkpoint(
    keras_home: Path, tmp_path: Path
) -> None:
    args = [*SMALL, "--enqueue-presets", "--n-trials", "2", "--max-epochs", "4"]
    first = _start(tmp_path, args, tmp_path / "first.log")
    _kill_when(first, tmp_path / "first.log", _checkpoint(tmp_path, 0, 2))  # the preset, epoch 3
    (killed,) = [t for t in _trials(tmp_path) if t.state == TrialState.RUNNING]

    out = _rerun(tmp_path, args)
    trials, study = _check_recovered(tmp_path)
    (retry,) = [t for t in trials if is_retry(t)]
    assert f"trial {killed.number} was left running by process {first.pid}, which is gone: " \
        f"resuming it from epoch 2 as trial {retry.number}" in out  # fmt: skip
    assert "lost its worker (no heartbeat)" not in out  # found at once, not after the grace period
    dead = next(t for t in trials if t.number == killed.number)
    assert dead.state == TrialState.FAIL and "ended" in dead.user_attrs["fail_reason"]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params
    assert retry.user_attrs["resumed_from_trial"] == killed.number
    assert retry.user_attrs["resumed_from_epoch"] == 2
    assert retry.user_attrs["epochs_run"] == retry.user_attrs["epochs_planned"] - 2
    # the retry ran first; --n-trials 2 are two trials besides it
    tag = _rerun_tag(trials, killed.number)
    new = [t for t in trials if t.user_attrs.get(RUN_ATTR) == tag and not is_retry(t)]
    assert len(new) == 2, [(t.number, t.state.name) for t in trials]
    assert all(retry.datetime_start < t.datetime_start for t in new)
    # the summary names the best after the retry ran (chosen by cross-validation on these 200
    # validation images: not necessarily the highest validation accuracy)
    assert f"best trial {best_trial(study).number}" in out
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    assert client.get_run(dead.user_attrs["mlflow_run_id"]).info.status == "KILLED"
    assert not list((tmp_path / "artifacts" / "checkpoints" / STUDY).glob("*.keras"))


def test_kill_during_a_checkpoint_write_the_torn_file_is_detected_and_the_previous_one_used(
    keras_home: Path, tmp_path: Path
) -> None:
    """A kill while the model file is written leaves it short: made so here, after a real kill."""
    args = [*SMALL, "--n-trials", "1", "--max-epochs", "4"]
    first = _start(tmp_path, args, tmp_path / "first.log")
    _kill_when(first, tmp_path / "first.log", _checkpoint(tmp_path, 0, 2))
    folder = tmp_path / "artifacts" / "checkpoints" / STUDY
    latest = folder / "0.e2.keras"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # torn
    (folder / ".0.tmp.keras").write_bytes(b"PK\x03\x04 half a zip")  # the next save, cut short

    out = _rerun(tmp_path, args)
    trials, _ = _check_recovered(tmp_path)
    (retry,) = [t for t in trials if is_retry(t)]
    assert "checkpoint of trial 0 after epoch 2 unusable: 0.e2.keras is damaged" in out
    assert f"resuming it from epoch 1 as trial {retry.number}" in out
    assert retry.state == TrialState.COMPLETE
    assert retry.user_attrs["resumed_from_epoch"] == 1  # the previous checkpoint
    assert not list(folder.glob("*.keras")) and not list(folder.glob(".*"))


def test_a_retry_whose_checkpoints_are_all_damaged_starts_over(tmp_path: Path) -> None:
    import keras
    import numpy as np

    study = optuna.create_study()
    first = study.ask()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    checkpoints = Checkpoints(tmp_path)
    history = {"loss": [1.0, 0.9, 0.8]}
    for epochs in (1, 2, 3):
        checkpoints.save(first.number, model, epochs, history)
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["0.e2.keras", "0.e3.keras"]
    study.tell(first, state=TrialState.FAIL)
    from search.storages import queue_retry

    queue_retry(study, study.trials[0])
    retry = study.ask()
    resume = checkpoints.restore(retry)
    assert resume is not None and resume.epoch == 3 and resume.history == {"loss": [1.0, 0.9, 0.8]}
    (tmp_path / "0.e3.keras").write_bytes(b"")
    resume = checkpoints.restore(retry)
    assert resume is not None and resume.epoch == 2 and resume.history == {"loss": [1.0, 0.9]}
    assert np.allclose(resume.model.get_weights()[0], model.get_weights()[0])
    (tmp_path / "0.e2.keras").write_bytes(b"garbage")
    assert checkpoints.restore(retry) is None  # from scratch, no exception
    assert checkpoints.latest_epoch([0]) is None


def test_kill_during_the_refit_the_rerun_refits_and_stores_the_final_model(
    keras_home: Path, tmp_path: Path
) -> None:
    args = [*SMALL, "--n-trials", "2", "--max-epochs", "3", "--refit"]
    first = _start(tmp_path, args, tmp_path / "first.log")
    _kill_when(first, tmp_path / "first.log", _logged(tmp_path / "first.log", "refitting trial"))
    assert "final_model" not in optuna.load_study(
        study_name=STUDY, storage=f"sqlite:///{tmp_path}/storage/optuna.db"
    ).user_attrs

    out = _rerun(tmp_path, args)
    trials, study = _check_recovered(tmp_path)
    assert "refitting trial" in out
    final = study.user_attrs["final_model"]
    assert final["trial"] == best_trial(study).number
    assert (tmp_path / "artifacts" / str(final["artifact_id"])).is_file()
    assert len(trials) == 4 and all(t.state.is_finished() for t in trials)


def test_kill_during_the_ensemble_the_rerun_builds_and_stores_it(keras_home: Path, tmp_path: Path) -> None:
    args = [*SMALL, "--n-trials", "3", "--max-epochs", "2", "--ensemble", "2"]
    first = _start(tmp_path, args, tmp_path / "first.log")
    _kill_when(first, tmp_path / "first.log", _logged(tmp_path / "first.log", "ensemble: choosing"))

    out = _rerun(tmp_path, args)
    trials, study = _check_recovered(tmp_path)
    assert "ensemble: choosing" in out
    final = study.user_attrs.get("final_model")
    if final is not None:  # another model improved on the best: the ensemble is the final model
        assert final["trial"] == best_trial(study).number
        assert (tmp_path / "artifacts" / str(final["artifact_id"])).is_file()
    else:  # none did: the best trial's own model (checked above) is the final one
        assert "ensemble of" not in out
    assert len(trials) == 6 and all(t.state.is_finished() for t in trials)
