"""The trial loop: retries run before queued presets and new trials, and are not counted."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from search.storages import ClaimLock, open_storage, queue_retry
from search.trials import RUN_ATTR, TrialBudget, is_retry, run_trials


def test_a_waiting_retry_runs_before_the_queued_presets_and_besides_the_count(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(storage=open_storage(url), study_name="s", direction="maximize")
    killed = study.ask()
    killed.suggest_float("x", 0, 1)
    study.tell(killed, state=TrialState.FAIL)
    study.enqueue_trial({"x": 0.25})  # a preset, queued first
    queue_retry(study, study.get_trials()[killed.number])  # queued after the preset
    ran: list[tuple[int, bool]] = []

    def objective(trial: optuna.trial.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
        ran.append((trial.number, is_retry(frozen)))
        return x

    lock = ClaimLock(url, "s")
    try:
        assert run_trials(study, objective, TrialBudget(1, "run-a"), lock) == 2
    finally:
        lock.close()
    (retry_number, first_is_retry), (preset_number, second_is_retry) = ran
    assert first_is_retry and not second_is_retry  # the retry first, then --n-trials 1
    trials = {t.number: t for t in study.get_trials()}
    assert trials[preset_number].params == {"x": 0.25}
    assert trials[retry_number].params == trials[killed.number].params
    assert all(trials[n].user_attrs[RUN_ATTR] == "run-a" for n, _ in ran)
    assert not [t for t in trials.values() if t.state == TrialState.WAITING]
