"""Faults lose nothing: a worker killed mid-trial, Ctrl-C, a diverging trial.

Short heartbeat settings (``$SEARCH_HEARTBEAT_SECONDS=1``, ``$SEARCH_GRACE_SECONDS=3``) let a dead
worker's trial be noticed in seconds rather than minutes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from search import run
from tests.search.execution.test_workers import check_mlflow_runs, tracking, worker_env

FAST_HEARTBEAT = {"SEARCH_HEARTBEAT_SECONDS": "1", "SEARCH_GRACE_SECONDS": "3"}
#: for tests of Ctrl-C, where no worker dies: a grace a loaded machine's late heartbeat cannot
#: outlast (with 3 s, a busy worker's running trial was once taken for dead and retried by the other)
SLOW_GRACE = {"SEARCH_HEARTBEAT_SECONDS": "1", "SEARCH_GRACE_SECONDS": "120"}
STUDY = "lenet-fashion_mnist"
# ten epochs of a few hundred images: a trial lasts a few seconds, so it is still running when the
# signal sent after its first checkpoint arrives (with 3 epochs of 0.1 s each, the search could
# end first: Ctrl-C then came too late and the run exited 0)
ARGS = [
    "--study",
    "lenet",
    "--limit",
    "600",
    "--max-epochs",
    "10",
    "--seed",
    "5",
    "--pruner",
    "none",
    "--no-test",
]


def _sigint_as_in_a_terminal() -> None:
    """Ctrl-C reaches the search as it does in a terminal, even when the tests run in the
    background: a non-interactive shell starts background jobs with SIGINT ignored, and Python
    keeps an ignored SIGINT ignored (the search then never saw the test's Ctrl-C and exited 0)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(tmp_path: Path, *args: str, heartbeat: dict[str, str] = FAST_HEARTBEAT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "search.run", *ARGS, *tracking(tmp_path), *args],
        cwd=tmp_path,
        env=worker_env(heartbeat),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_in_a_terminal,
    )


def _wait_for_checkpoint(
    tmp_path: Path, process: subprocess.Popen[str], timeout: float = 300
) -> dict[str, object]:
    """Wait until some trial has saved at least one epoch; return its checkpoint's metadata."""
    folder = tmp_path / "artifacts" / "checkpoints" / STUDY
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                return dict(json.loads(meta.read_text()))
            except (OSError, ValueError):
                continue
        time.sleep(0.05)
    raise AssertionError("no trial saved a checkpoint in time")


def _study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{tmp_path}/storage/optuna.db")


def _retries_of(trials: list[FrozenTrial], number: int) -> list[FrozenTrial]:
    return [t for t in trials if number in t.system_attrs.get("retry_history", ())]


def test_killed_worker_trial_is_failed_retried_from_its_checkpoint_and_the_count_is_reached(
    keras_home: Path, tmp_path: Path
) -> None:
    worker = _start(tmp_path, "--study-trials", "3")
    meta = _wait_for_checkpoint(tmp_path, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=60)
    killed = int(meta["trial"])  # type: ignore[call-overload]
    trials = _study(tmp_path).get_trials()
    assert [t.state for t in trials if t.number == killed] == [TrialState.RUNNING]

    # The same command again: the dead trial goes stale, is failed and retried from its checkpoint.
    restart = _start(tmp_path, "--study-trials", "3")
    out, err = restart.communicate(timeout=900)
    assert restart.returncode == 0, err[-3000:]
    trials = _study(tmp_path).get_trials()
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    dead = next(t for t in trials if t.number == killed)
    assert dead.state == TrialState.FAIL
    (retry,) = _retries_of(trials, killed)
    assert retry.state == TrialState.COMPLETE, retry.user_attrs
    assert retry.params == dead.params
    assert retry.user_attrs["resumed_from_trial"] == killed
    assert retry.user_attrs["resumed_from_epoch"] >= 1  # not started over
    assert (
        retry.user_attrs["epochs_run"]
        == retry.user_attrs["epochs_planned"] - retry.user_attrs["resumed_from_epoch"]
    )
    counted = [t for t in trials if not _retries_of(trials, t.number)]
    assert len(counted) == 3, [
        (t.number, t.state.name) for t in trials
    ]  # the requested count, exactly
    assert not list(
        (tmp_path / "artifacts" / "checkpoints" / STUDY).glob("*.keras")
    )  # finished: deleted
    check_mlflow_runs(tmp_path, [t for t in trials if t.state.is_finished()])
    if dead.user_attrs.get("mlflow_run_id"):
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
        assert client.get_run(dead.user_attrs["mlflow_run_id"]).info.status == "KILLED"


def test_ctrl_c_stops_every_worker_records_the_trials_and_the_next_run_resumes_them(
    keras_home: Path, tmp_path: Path
) -> None:
    parent = _start(tmp_path, "--workers", "2", "--n-trials", "6", heartbeat=SLOW_GRACE)
    _wait_for_checkpoint(tmp_path, parent)
    parent.send_signal(signal.SIGINT)
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 130, err[-3000:]
    assert "interrupted" in out
    trials = _study(tmp_path).get_trials()
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get("interrupted")]
    assert 1 <= len(interrupted) <= 2, [(t.number, t.state.name, t.user_attrs) for t in trials]
    for t in interrupted:
        assert t.state == TrialState.FAIL
        assert t.user_attrs["fail_reason"] == "interrupted by the user"
        (queued,) = _retries_of(trials, t.number)
        # queued again; the other worker, until the signal reached it, may already have run it
        assert queued.params == t.params
        assert queued.state in (TrialState.WAITING, TrialState.COMPLETE, TrialState.PRUNED), queued.state

    # The next invocation runs the interrupted trials first, from where they stopped.
    again = _start(tmp_path, "--n-trials", str(len(interrupted)), heartbeat=SLOW_GRACE)
    out, err = again.communicate(timeout=900)
    assert again.returncode == 0, err[-3000:]
    trials = _study(tmp_path).get_trials()
    assert not [t.number for t in trials if not t.state.is_finished()]
    for t in interrupted:
        (retry,) = _retries_of(trials, t.number)
        assert retry.state.is_finished() and not retry.user_attrs.get("interrupted")
    resumed = [t for t in trials if "resumed_from_trial" in t.user_attrs]
    assert resumed, "no interrupted trial resumed from its checkpoint"
    check_mlflow_runs(tmp_path, [t for t in trials if t.state.is_finished()])


def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spaces import get_space

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    study.set_user_attr("family", "lenet")
    study.set_user_attr("dataset", "fashion_mnist")
    diverging = dict(get_space("lenet").presets["doc000_lenet5"].params)
    diverging.update(  # SGD at the top of the learning-rate range with heavy momentum: ELU blows up
        optimizer="sgd", learning_rate=0.1, momentum=0.99, activation="elu", batch_size=8,
        conv1_filters=64, conv2_filters=128, dense1_units=512, dense2_units=256,
    )  # fmt: skip
    study.enqueue_trial(diverging)
    args = [
        "--study",
        "lenet",
        "--limit",
        "300",
        "--max-epochs",
        "1",
        "--pruner",
        "none",
        "--no-mlflow",
    ]
    code = run.main(
        [*args, "--storage", storage, "--artifacts", str(tmp_path / "a"), "--n-trials", "3"]
    )
    assert code == 0
    trials = optuna.load_study(study_name=STUDY, storage=storage).get_trials()
    assert len(trials) == 3
    assert trials[0].state == TrialState.FAIL
    assert (
        trials[0]
        .user_attrs["fail_reason"]
        .startswith("NonFiniteLossError: loss became non-finite in epoch 1")
    )
    assert all(t.state.is_finished() for t in trials[1:])
    assert any(t.state == TrialState.COMPLETE for t in trials[1:])
    out = capsys.readouterr().out
    assert "failed: NonFiniteLossError" in out
    assert not list(
        (tmp_path / "a" / "checkpoints" / STUDY).glob("*")
    )  # ended trials keep no checkpoint


def test_a_checkpoint_after_each_epoch_but_the_last(tmp_path: Path) -> None:
    """The last epoch's checkpoint would be deleted as soon as the trial ends: it is not written."""
    import keras
    import numpy as np

    from search.training import Checkpoints

    trial = optuna.create_study().ask()
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 4), dtype=np.float32), keras.utils.to_categorical(rng.integers(0, 3, 64), 3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    saver = Checkpoints(tmp_path).callback(trial)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[saver])
    assert len(saver.seconds) == 2
    meta = json.loads((tmp_path / f"{trial.number}.json").read_text())
    latest, previous = meta["checkpoints"]  # the previous one too, in case the latest is damaged
    assert (latest["epochs_done"], previous["epochs_done"]) == (2, 1)
    assert len(meta["history"]["loss"]) == 2
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == [f"{trial.number}.e1.keras", f"{trial.number}.e2.keras"]
