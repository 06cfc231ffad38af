"""Dead workers on this machine: a trial whose process ended is failed and retried at once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.storages import (
    WORKER_PROCESS_ATTR,
    WorkerProcess,
    fail_dead_local_trials,
    open_storage,
    stale_trial_callback,
)


def _ended_process() -> WorkerProcess:
    """A process of this machine that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    here = WorkerProcess.current()
    from search.storages._liveness import _start_ticks  # the start time, read while it runs

    process = dataclasses.replace(here, pid=child.pid, start_ticks=_start_ticks(child.pid))
    assert not process.is_gone()
    child.kill()
    child.wait()
    return process


def test_this_process_is_local_and_alive_and_an_ended_one_is_gone() -> None:
    here = WorkerProcess.current()
    assert here.is_local() and not here.is_gone()
    assert here.boot_id and here.start_ticks is not None
    assert WorkerProcess.from_attr(here.attr()) == here
    assert _ended_process().is_gone()
    # its id reused by a process started at another time: not the worker
    assert dataclasses.replace(here, start_ticks=(here.start_ticks or 0) + 1).is_gone()
    # another machine, or this one before a reboot: only the heartbeat can tell
    assert not dataclasses.replace(here, host="elsewhere", pid=2**22 + 1).is_gone()
    assert not dataclasses.replace(here, boot_id="an-earlier-boot", pid=2**22 + 1).is_gone()
    assert WorkerProcess.from_attr("host:123") is None


def test_a_trial_of_an_ended_process_is_failed_its_hooks_told_and_its_retry_queued(tmp_path: Path) -> None:
    told: list[int] = []
    storage = open_storage(f"sqlite:///{tmp_path}/optuna.db", on_stale=(lambda t: told.append(t.number),))
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    dead, alive, remote = study.ask(), study.ask(), study.ask()
    for trial in (dead, alive, remote):
        trial.suggest_float("x", 0, 1)
    ended = _ended_process()
    dead.set_user_attr(WORKER_PROCESS_ATTR, ended.attr())
    alive.set_user_attr(WORKER_PROCESS_ATTR, WorkerProcess.current().attr())
    remote.set_user_attr(WORKER_PROCESS_ATTR, dataclasses.replace(ended, host="elsewhere").attr())

    (found,) = fail_dead_local_trials(study, stale_trial_callback(storage).retry)
    assert found.trial.number == dead.number and found.process == ended
    trials = study.get_trials()
    states = {t.number: t.state for t in trials}
    assert states[dead.number] == TrialState.FAIL
    assert states[alive.number] == states[remote.number] == TrialState.RUNNING
    assert told == [dead.number]  # e.g. its MLflow run closed
    assert f"its process {ended.pid}" in trials[dead.number].user_attrs["fail_reason"]
    retry: FrozenTrial = trials[found.retry]  # type: ignore[index]
    assert retry.state == TrialState.WAITING and retry.params == trials[dead.number].params
    assert retry.system_attrs["retry_history"] == [dead.number]
    assert WORKER_PROCESS_ATTR not in retry.user_attrs and "fail_reason" not in retry.user_attrs
    assert fail_dead_local_trials(study, stale_trial_callback(storage).retry) == []  # once
