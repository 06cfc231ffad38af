"""The documents' presets as the first trials of a study (``--enqueue-presets``)."""

from __future__ import annotations

from typing import Any

import optuna

from search.records import TrialRecord
from search.training import multiply_adds
from spaces import SearchSpace

__all__ = ["enqueue_presets"]


def enqueue_presets(
    study: optuna.Study, space: SearchSpace, dataset: str, input_shape: tuple[int, ...], num_classes: int
) -> list[str]:
    """Put the family's presets for ``dataset`` first in the study, once each, the cheapest to train
    first (:func:`multiply_adds`), so the pruner has their scores when a costly one reaches its
    first rung; returns their names in that order."""
    done = {TrialRecord.of(t).preset for t in study.get_trials(deepcopy=False)}
    presets = [p for p in space.presets.values() if p.dataset == dataset and p.name not in done]

    def cost(preset: Any) -> int:
        candidate = space.from_params(preset.params)
        return multiply_adds(space.build_model(candidate, input_shape, num_classes))

    queued = []
    for preset in sorted(presets, key=cost):
        study.enqueue_trial(dict(preset.params), user_attrs=TrialRecord(preset=preset.name).attrs())
        queued.append(preset.name)
    return queued
