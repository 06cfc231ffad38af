"""The Objective and the clock: a candidate too slow for the time left is pruned before it trains;
one that can reach its first rung trains; a leading trial is not stopped by its own cap unless
a refit follows, and then every trial may take a fifth of the search time left, and one ahead of
the leader at the same epoch as many epochs as the leader trained."""

from __future__ import annotations

import re
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search.data import load_dataset
from search.policy import TimePolicy
from search.training import TOO_SLOW
from search.trials import Objective, ObserverGroup
from spaces import get_space


def _objective(search_end: float | None, **kwargs: object) -> Objective:
    return Objective(
        space=get_space("lenet"),
        data=load_dataset("fashion_mnist", limit=400, seed=2),
        max_epochs=2,
        observers=ObserverGroup([]),
        prune=False,
        search_end=(lambda: search_end),
        **kwargs,  # type: ignore[arg-type]
    )


def _study(tmp_path: Path, slow_history: bool) -> optuna.Study:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db", direction="maximize")
    if slow_history:  # this machine measured 600 s per epoch for a model of lenet's size on 360 images
        attrs = {"multiply_adds": 416_520, "batch_size": 128, "train_images": 360, "seconds_per_epoch": 600.0}
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, params={}, distributions={}, user_attrs=attrs))
    study.enqueue_trial(dict(get_space("lenet").presets["doc000_lenet5"].params))
    return study


def test_a_candidate_too_slow_for_the_time_left_is_pruned_before_it_trains(keras_home: Path, tmp_path: Path) -> None:
    study = _study(tmp_path, slow_history=True)
    study.optimize(_objective(time.monotonic() + 120.0), n_trials=1)  # 2 minutes left: not 2 x 600 s
    trial = study.trials[-1]
    assert trial.state == TrialState.PRUNED
    assert re.fullmatch(rf"{TOO_SLOW}: about (59\d|60\d) s per epoch", trial.user_attrs["pruned_reason"])  # 600 s measured
    assert trial.user_attrs["epochs_run"] == 0 and "training_seconds" not in trial.user_attrs  # no training
    assert trial.user_attrs["multiply_adds"] == 416_520 and trial.user_attrs["batch_size"] == 128


def test_the_same_candidate_trains_when_the_machine_is_fast_enough(keras_home: Path, tmp_path: Path) -> None:
    study = _study(tmp_path, slow_history=False)
    study.optimize(_objective(time.monotonic() + 120.0), n_trials=1)
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.user_attrs["epochs_run"] == 2
    # what it measured is there for the next trials' predictions
    assert trial.user_attrs["seconds_per_epoch"] > 0 and trial.user_attrs["predicted_seconds_per_epoch"] > 0


def test_a_user_cap_too_short_for_the_first_rung_prunes_before_training(keras_home: Path, tmp_path: Path) -> None:
    study = _study(tmp_path, slow_history=True)
    study.optimize(_objective(None, trial_seconds=60.0), n_trials=1)
    trial = study.trials[-1]
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["pruned_reason"].startswith("too slow for the per-trial time budget of 60s")


@pytest.mark.parametrize(("leads", "refit_follows"), [(True, False), (False, False), (True, True)])
def test_only_a_leading_trial_trains_past_its_derived_cap_unless_a_refit_follows(
    keras_home: Path, tmp_path: Path, leads: bool, refit_follows: bool
) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db", direction="maximize")
    best = 0.0 if leads else 1.0  # the best complete trial so far
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=best, user_attrs={"val_accuracy": best}))
    study.enqueue_trial({**get_space("lenet").presets["doc000_lenet5"].params, "epochs": 4})
    objective = _objective(time.monotonic() + 600.0, first_rung=1, refit_follows=refit_follows)
    objective.max_epochs = 4
    # its cap: its first rung's predicted time
    objective.policy = TimePolicy(share_of_time_left=0.0, share_before_refit=0.0)
    study.optimize(objective, n_trials=1)
    trial = study.trials[-1]
    assert trial.state == TrialState.COMPLETE
    if leads and not refit_follows:
        assert trial.user_attrs["epochs_run"] == 4 and "stopped_by_time_budget" not in trial.user_attrs
    else:  # past its first rung, behind the best or with a refit to train the winner again: stopped by its cap
        assert trial.user_attrs["epochs_run"] < 4 and trial.user_attrs["stopped_by_time_budget"] is True


@pytest.mark.parametrize(
    ("leader_curve", "epochs_run", "going_on_share"),
    [([0.0, 0.0, 1.0], 3, 0.5), ([1.0, 1.0, 1.0], 1, 0.5), ([0.0, 0.0, 0.0], 1, 0.5), ([0.0, 0.0, 1.0], 1, 0.0)],
    ids=["ahead-at-each-epoch", "behind", "ahead-outright", "ahead-but-no-time-to-go-on"],
)
def test_a_trial_ahead_of_the_leader_at_the_same_epoch_trains_as_many_epochs_as_it_did(
    keras_home: Path, tmp_path: Path, leader_curve: list[float], epochs_run: int, going_on_share: float
) -> None:
    """With a refit to follow, the cap spares a trial ahead of the best complete trial as that
    trial stood after as many epochs (it trained 3 and reached 1.0 only at its third), so the
    two are compared at equal fidelity; then it stops. A trial behind stops at its first rung, and
    so does one ahead of the leader's best outright: the ranking is settled, the refit trains it.
    Going on is bounded by a share of the search time left: with none, the trial ahead stops at
    its first rung too."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db", direction="maximize")
    steps = dict(enumerate(leader_curve))
    best = max(leader_curve)
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=best, user_attrs={"val_accuracy": best}, intermediate_values=steps))
    study.enqueue_trial({**get_space("lenet").presets["doc000_lenet5"].params, "epochs": 5})
    objective = _objective(time.monotonic() + 600.0, first_rung=1, refit_follows=True)
    objective.max_epochs = 5
    # its cap: its first rung's predicted time
    objective.policy = TimePolicy(share_before_refit=0.0, share_going_on=going_on_share)
    study.optimize(objective, n_trials=1)
    trial = study.trials[-1]
    assert trial.state == TrialState.COMPLETE and trial.user_attrs["stopped_by_time_budget"] is True
    assert trial.user_attrs["epochs_run"] == epochs_run


def test_with_a_refit_to_follow_a_trial_may_take_a_fifth_of_the_search_time_left(keras_home: Path, tmp_path: Path) -> None:
    """The clock keeps the refit's time; of the rest, a trial's cap is a fifth, its bound a half
    (the pace predicted from what an earlier trial measured)."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db", direction="maximize")
    attrs = {"multiply_adds": 416_520, "batch_size": 128, "train_images": 360, "seconds_per_epoch": 50.0}
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=attrs))  # the pace of a lenet-sized model
    study.enqueue_trial({**get_space("lenet").presets["doc000_lenet5"].params, "epochs": 2})
    start = time.monotonic()
    study.optimize(_objective(start + 1000.0, refit_follows=True), n_trials=1)
    trial = study.trials[-1]
    per_epoch = trial.user_attrs["predicted_seconds_per_epoch"]
    assert 45.0 < per_epoch < 55.0  # what the earlier trial measured
    expected = 0.2 * 1000.0
    assert expected - 5.0 < trial.user_attrs["time_cap_seconds"] <= expected + 0.1
    bound = 0.5 * 1000.0  # going on past the cap, while ahead of the leader
    assert bound - 10.0 < trial.user_attrs["time_bound_seconds"] <= bound + 0.1


@pytest.mark.parametrize(
    ("seconds_left", "fast_trial", "trains"),
    [(400.0, True, False), (1000.0, True, True), (400.0, False, True)],
)
def test_with_a_refit_to_follow_a_much_slower_candidate_must_fit_its_share(
    keras_home: Path, tmp_path: Path, seconds_left: float, fast_trial: bool, trains: bool
) -> None:
    """A candidate more than twice as slow per epoch as the fastest trial trains only if its first
    rung fits in a fifth of the search time left: here it needs about 100 s (2 epochs at 50 s),
    a fifth of 400 s is 80 s, of 1000 s 200 s; without the fast trial it is the fastest itself."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db", direction="maximize")
    attrs = {"multiply_adds": 416_520, "batch_size": 128, "train_images": 360, "seconds_per_epoch": 50.0}
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, user_attrs=attrs))
    if fast_trial:  # a small model: 5 s per epoch
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.4, user_attrs={"seconds_per_epoch": 5.0}))
    study.enqueue_trial({**get_space("lenet").presets["doc000_lenet5"].params, "epochs": 2})
    study.optimize(_objective(time.monotonic() + seconds_left, first_rung=2, refit_follows=True), n_trials=1)
    trial = study.trials[-1]
    if trains:
        assert trial.state == TrialState.COMPLETE and trial.user_attrs["epochs_run"] == 2
    else:
        assert trial.state == TrialState.PRUNED and trial.user_attrs["epochs_run"] == 0
        assert re.fullmatch(
            rf"{TOO_SLOW}: about (49|50|51) s per epoch, 10x the fastest trial's; its first rung needs "
            r"\d+s, more than its share \((79|80)s\)",
            trial.user_attrs["pruned_reason"],
        ), trial.user_attrs["pruned_reason"]
