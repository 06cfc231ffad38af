"""The Objective with a first epoch on a subset: what the trial records, and the time to its first
rung predicted with the cheaper first epoch."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search.data import load_dataset
from search.records import TrialRecord
from search.training import TOO_SLOW, EpochCostModel
from search.trials import Objective, ObserverGroup, TrialObserver, TrialOutcome
from spaces import get_space

LENET_MADDS = 416_520  # lenet's preset, as tests/search/trials/test_time_budget.py


class _Outcomes(TrialObserver):
    def __init__(self) -> None:
        self.outcomes: list[TrialOutcome] = []

    def on_trial_end(self, outcome: TrialOutcome) -> None:
        self.outcomes.append(outcome)


def _objective(limit: int, fraction: float | None, search_end: float | None, watch: _Outcomes) -> Objective:
    return Objective(
        space=get_space("lenet"),
        data=load_dataset("fashion_mnist", limit=limit, seed=2),
        max_epochs=2,
        observers=ObserverGroup([watch]),
        prune=False,
        first_rung=2,
        search_end=(lambda: search_end),
        first_epoch_fraction=fraction,
    )


def _study(tmp_path: Path) -> optuna.Study:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/o.db", direction="maximize")
    attrs = {"multiply_adds": LENET_MADDS, "batch_size": 128, "train_images": 360, "seconds_per_epoch": 600.0}
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, params={}, distributions={}, user_attrs=attrs))
    study.enqueue_trial({**get_space("lenet").presets["doc000_lenet5"].params, "batch_size": 128})
    return study


@pytest.mark.parametrize("fraction", [0.25, None])
def test_the_cheaper_first_epoch_decides_whether_a_candidate_can_reach_its_first_rung(
    keras_home: Path, tmp_path: Path, fraction: float | None
) -> None:
    """The time left is 1.7 predicted epochs: two whole epochs do not fit, a short first one
    (5,000 of 10,800 images) and a whole one do."""
    study = _study(tmp_path)
    watch = _Outcomes()
    data = load_dataset("fashion_mnist", limit=12_000, seed=2)
    images = len(data.y_train)
    per_epoch = EpochCostModel.from_records(map(TrialRecord.of, study.get_trials())).seconds_per_epoch(LENET_MADDS, images, 128)
    study.optimize(_objective(12_000, fraction, time.monotonic() + 1.7 * per_epoch, watch), n_trials=1)
    trial = study.trials[-1]
    if fraction is None:
        assert trial.state == TrialState.PRUNED and trial.user_attrs["pruned_reason"].startswith(TOO_SLOW)
        assert trial.user_attrs["first_epoch_images"] == images
        return
    assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("pruned_reason")
    assert trial.user_attrs["first_epoch_images"] == 5_000
    assert trial.user_attrs["train_images"] == images  # the cost model's images: a whole epoch's
    seconds = watch.outcomes[-1].history["epoch_seconds"]
    assert trial.user_attrs["seconds_per_epoch"] == pytest.approx(seconds[1], abs=1e-3)  # the whole epoch's pace


def test_a_small_data_set_trains_every_epoch_on_every_image(keras_home: Path, tmp_path: Path) -> None:
    study = _study(tmp_path)
    watch = _Outcomes()
    study.optimize(_objective(1_000, 0.25, None, watch), n_trials=1)
    trial = study.trials[-1]
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs["first_epoch_images"] == trial.user_attrs["train_images"]
