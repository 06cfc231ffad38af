"""The cost model: a candidate's seconds per epoch, predicted before it trains."""

from __future__ import annotations

import math

import pytest
from optuna.trial import TrialState, create_trial

from search.records import TrialRecord
from search.training import CostObservation, EpochCostModel, fastest_pace


def test_before_any_measurement_the_prior_predicts_cost_growing_with_work_and_shrinking_with_batch() -> None:
    model = EpochCostModel()
    assert not model.calibrated
    small = model.seconds_per_epoch(1_000_000, 10_000, 64)
    assert model.seconds_per_epoch(10_000_000, 10_000, 64) == pytest.approx(10 * small)  # time ~ work
    assert model.seconds_per_epoch(1_000_000, 20_000, 64) == pytest.approx(2 * small)
    assert model.seconds_per_epoch(1_000_000, 10_000, 8) > small > model.seconds_per_epoch(1_000_000, 10_000, 512)


def test_one_measurement_sets_this_machines_speed() -> None:
    seen = CostObservation(multiply_adds=3_000_000, images=9_000, batch_size=32, seconds_per_epoch=6.0)
    model = EpochCostModel([seen])
    assert model.calibrated
    assert model.seconds_per_epoch(3_000_000, 9_000, 32) == pytest.approx(6.0, rel=0.05)
    # a model with 4x the work is predicted about 4x slower: the slope keeps its prior
    assert model.seconds_per_epoch(12_000_000, 9_000, 32) == pytest.approx(24.0, rel=0.1)


def test_many_measurements_recover_the_machines_law() -> None:
    """Paces that follow seconds = 1e-9 x work^0.9 x batch^-0.5 (not the prior's slopes)."""

    def law(madds: int, batch: int) -> float:
        return 1e-9 * (madds * 10_000) ** 0.9 * batch**-0.5

    observed = [
        CostObservation(madds, 10_000, batch, law(madds, batch))
        for madds in (200_000, 1_000_000, 5_000_000, 30_000_000)
        for batch in (16, 64, 256)
    ]
    model = EpochCostModel(observed)
    for madds, batch in ((2_000_000, 32), (20_000_000, 128), (500_000, 512)):
        assert model.seconds_per_epoch(madds, 10_000, batch) == pytest.approx(law(madds, batch), rel=0.15)


def test_the_model_reads_the_records_of_a_studys_trials() -> None:
    attrs = {"multiply_adds": 2_000_000, "batch_size": 64, "train_images": 5_000}
    trials = [
        create_trial(state=TrialState.COMPLETE, value=0.9, user_attrs={**attrs, "seconds_per_epoch": 4.0}),
        # pruned in its first epoch: the pace of its first batches
        create_trial(state=TrialState.PRUNED, user_attrs={**attrs, "batch_size": 128, "batch_seconds_per_epoch": 3.0}),
        create_trial(state=TrialState.PRUNED, user_attrs={"multiply_adds": 10}),  # no pace: left out
        create_trial(state=TrialState.COMPLETE, value=0.9, user_attrs={**attrs, "seconds_per_epoch": math.nan}),
    ]
    model = EpochCostModel.from_records(map(TrialRecord.of, trials))
    assert [o.seconds_per_epoch for o in model.observations] == [4.0, 3.0]
    assert fastest_pace(map(TrialRecord.of, trials)) == 3.0  # the NaN is no pace
    assert model.seconds_per_epoch(2_000_000, 5_000, 64) == pytest.approx(4.0, rel=0.2)
