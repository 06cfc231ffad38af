"""Running one search: the study's prior sampler samples with the objective's checks."""

from __future__ import annotations

from pathlib import Path

from search.core import SearchSettings
from search.execution import make_clock, make_objective, prepare
from search.samplers import PriorSampler
from search.training import space_distributions
from search.trials import ObserverGroup


def test_the_prior_sampler_samples_with_the_objectives_checks(keras_home: Path, tmp_path: Path) -> None:
    settings = SearchSettings(
        "cnn", storage=f"sqlite:///{tmp_path}/optuna.db", artifacts=str(tmp_path / "artifacts"),
        limit=300, track=False, seed=0,
    )  # fmt: skip
    prepared = prepare(settings)
    opened = prepared.study.sampler
    assert isinstance(opened, PriorSampler) and opened.feasible is None  # no objective yet
    make_objective(prepared, ObserverGroup([]), make_clock(prepared))
    sampler = prepared.study.sampler
    assert isinstance(sampler, PriorSampler) and sampler is not opened
    assert sampler.search_space == space_distributions(prepared.space)
    assert sampler.feasible is not None
    preset = next(iter(prepared.space.presets.values())).params
    assert sampler.feasible(preset)
    deep = {**preset, "n_blocks": 5, "padding": "same"}  # 28 halved 5 times: nothing left
    for i in range(5):
        deep[f"filters_{i}"], deep[f"pool_{i}"], deep[f"dropout_{i}"] = 16, True, 0.0
    assert not sampler.feasible(deep)
    assert opened.feasible is None  # the sampler the study was opened with is left as it was
