"""``search.compat``'s Optuna adapter against the installed Optuna, on real SQLite storages:
the storage and trial ids, heartbeats, and claiming a WAITING trial."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from search.compat import (
    claim_waiting_trial,
    first_heartbeat,
    heartbeat_thread,
    storage_of,
    trial_id,
)

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/optuna.db"


def _state(study: optuna.Study, trial: optuna.trial.Trial) -> TrialState:
    return storage_of(study).get_trial(trial_id(trial)).state


def test_storage_of_and_trial_id_find_the_trial_in_the_storage(tmp_path: Path) -> None:
    url = _url(tmp_path)
    first = optuna.create_study(study_name="first", storage=url)
    second = optuna.create_study(study_name="second", storage=url)
    a, b = first.ask(), second.ask()
    assert a.number == b.number == 0  # numbers repeat across studies, ids do not
    assert trial_id(a) != trial_id(b)
    first.tell(a, 0.5)

    storage = storage_of(first)
    assert storage.get_study_id_from_name("first") != storage.get_study_id_from_name("second")
    frozen = storage.get_trial(trial_id(a))
    assert (frozen.number, frozen.value, frozen.state) == (0, 0.5, TrialState.COMPLETE)
    assert trial_id(first.trials[0]) == trial_id(a)  # a FrozenTrial has the same id
    # the same storage another process would open
    assert storage_of(optuna.load_study(study_name="second", storage=url)).get_trial(trial_id(b)).state == TrialState.RUNNING


def _wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.25)


def test_heartbeats_keep_a_trial_alive_and_a_trial_without_one_is_never_stale(tmp_path: Path) -> None:
    storage = RDBStorage(_url(tmp_path), heartbeat_interval=1, grace_period=3)
    study = optuna.create_study(storage=storage)
    beaten_once, silent, kept = study.ask(), study.ask(), study.ask()
    first_heartbeat(study, beaten_once)

    def stale(trial: optuna.trial.Trial) -> bool:
        fail_stale_trials(study)
        return _state(study, trial) == TrialState.FAIL

    with heartbeat_thread(study, kept):
        _wait_for(lambda: stale(beaten_once))  # its one heartbeat grows older than the grace period
        assert _state(study, beaten_once) == TrialState.FAIL
        assert _state(study, kept) == TrialState.RUNNING  # beaten all along
    _wait_for(lambda: stale(kept))  # the thread stopped with the block
    assert _state(study, kept) == TrialState.FAIL
    # Optuna never finds a trial without any heartbeat stale: why the loop records a first one
    assert _state(study, silent) == TrialState.RUNNING


def test_heartbeats_do_nothing_on_a_storage_without_them(tmp_path: Path) -> None:
    for storage in (RDBStorage(_url(tmp_path)), JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))):
        study = optuna.create_study(storage=storage)
        trial = study.ask()
        first_heartbeat(study, trial)
        with heartbeat_thread(study, trial):
            pass
        study.tell(trial, 1.0)
        assert study.trials[0].state == TrialState.COMPLETE


def test_claim_waiting_trial_starts_it_as_ask_would(tmp_path: Path) -> None:
    study = optuna.create_study(storage=_url(tmp_path))
    study.enqueue_trial({"x": 0.25}, user_attrs={"preset": "first"})
    study.enqueue_trial({"x": 0.75}, user_attrs={"preset": "retry"})
    _, retry = study.get_trials(states=[TrialState.WAITING])

    trial = claim_waiting_trial(study, retry)  # the second in the queue, before the first
    assert trial is not None
    assert trial.number == retry.number
    assert _state(study, trial) == TrialState.RUNNING
    assert trial.suggest_float("x", 0.0, 1.0) == 0.75  # the enqueued value, as ask() gives it
    assert trial.user_attrs["preset"] == "retry"
    study.tell(trial, 0.9)

    nxt = study.ask()  # ask still pops the first of the queue
    assert nxt.suggest_float("x", 0.0, 1.0) == 0.25
    assert {t.number: t.state for t in study.get_trials()} == {0: TrialState.RUNNING, 1: TrialState.COMPLETE}


def test_claim_waiting_trial_returns_none_when_another_process_took_it(tmp_path: Path) -> None:
    url = _url(tmp_path)
    study = optuna.create_study(study_name="s", storage=url)
    study.enqueue_trial({"x": 0.5})
    (waiting,) = study.get_trials(states=[TrialState.WAITING])
    other = optuna.load_study(study_name="s", storage=url)  # another worker's view of the same study

    assert claim_waiting_trial(other, waiting) is not None
    assert claim_waiting_trial(study, waiting) is None  # already RUNNING
    running = study.get_trials(states=[TrialState.RUNNING])
    assert [t.number for t in running] == [waiting.number]
    study.tell(waiting.number, 1.0)
    assert claim_waiting_trial(study, waiting) is None  # finished: UpdateFinishedTrialError, not raised


class _Recording(optuna.samplers.RandomSampler):
    """Random sampling that records how many trials it saw, read as TPE and CMA-ES read them."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.seen: list[int] = []

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        self.seen.append(len(study._get_trials(deepcopy=False, use_cache=True)))
        return super().sample_independent(study, trial, param_name, param_distribution)


def test_claim_waiting_trial_lets_the_sampler_see_trials_added_meanwhile(tmp_path: Path) -> None:
    url = _url(tmp_path)
    sampler = _Recording()
    study = optuna.create_study(study_name="s", storage=url, sampler=sampler)
    study.enqueue_trial({"x": 0.5})
    study.enqueue_trial({"x": 0.6})
    first = study.ask()
    first.suggest_float("y", 0.0, 1.0)  # the sampler reads (and caches) trials 0 and 1
    (waiting,) = study.get_trials(states=[TrialState.WAITING])
    other = optuna.load_study(study_name="s", storage=url)  # another worker finishes a trial meanwhile
    other.add_trial(
        optuna.trial.create_trial(
            params={"y": 0.1}, distributions={"y": optuna.distributions.FloatDistribution(0, 1)}, value=0.3
        )
    )
    trial = claim_waiting_trial(study, waiting)
    assert trial is not None
    trial.suggest_float("y", 0.0, 1.0)
    assert sampler.seen == [2, 3]
