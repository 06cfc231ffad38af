"""The summary says where the training time went: the presets or the sampler's own candidates."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from search.final import search_effort, summarize
from search.samplers import REDRAWS_KEY


def _trial(value: float | None, seconds: float, epochs: int, **attrs: Any) -> optuna.trial.FrozenTrial:
    state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
    redraws = attrs.pop("redraws", None)
    return create_trial(
        state=state,
        value=value,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0.0, 1.0)},
        user_attrs={"training_seconds": seconds, "epochs_run": epochs, "val_accuracy": value, **attrs},
        system_attrs={REDRAWS_KEY: redraws} if redraws else {},
    )


def test_the_training_time_is_split_between_presets_and_the_samplers_candidates() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trials([
        _trial(0.91, 200.0, 5, preset="doc002"),
        _trial(0.92, 100.0, 3, preset="doc003"),
        _trial(None, 0.0, 0, preset="doc001"),  # pruned before it trained (or still waiting): not counted
        _trial(0.93, 400.0, 6, redraws=2),
        _trial(None, 90.0, 2),
        _trial(None, 0.1, 0),  # pruned before an epoch: not counted as trained
        _trial(None, 0.0, 0, redraws=1),
    ])  # fmt: skip
    effort = search_effort(study.get_trials())
    assert (effort.preset_trials, effort.proposed_trials, effort.rejected) == (2, 2, 3)
    assert effort.proposed_share == (400.0 + 90.0 + 0.1) / (300.0 + 490.1)
    summary = summarize(study, family="cnn", dataset="fashion_mnist", trials_this_run=7, wall_seconds=1.0,
                        objectives=("accuracy",))  # fmt: skip
    line = next(x for x in summary.lines() if x.startswith("training time"))
    assert line == (
        "training time: 62% on 2 of the sampler's own candidates (490s), 38% on 2 presets (300s); "
        "3 unbuildable or unaffordable draws rejected while sampling"
    )


def test_one_preset_is_one_preset() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trials([_trial(0.91, 200.0, 5, preset="doc002"), _trial(0.92, 100.0, 3)])
    line = search_effort(study.get_trials()).describe()
    assert line == "training time: 33% on 1 of the sampler's own candidates (100s), 67% on 1 preset (200s)"


def test_a_search_without_presets_or_rejections_says_nothing_of_them() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trials([_trial(0.9, 10.0, 2), _trial(None, 5.0, 1)])
    summary = summarize(study, family="cnn", dataset="fashion_mnist", trials_this_run=2, wall_seconds=1.0,
                        objectives=("accuracy",))  # fmt: skip
    assert not any(x.startswith("training time") for x in summary.lines())
