"""The documents' presets as the first trials of a study (``--enqueue-presets``)."""

from __future__ import annotations

import optuna

from search.records import TrialRecord
from search.training import multiply_adds
from spaces import Preset, SearchSpace

__all__ = ["enqueue_presets", "presets_to_try"]


def presets_to_try(
    study: optuna.Study, space: SearchSpace, dataset: str, input_shape: tuple[int, ...], num_classes: int
) -> list[Preset]:
    """The family's presets for ``dataset`` that no trial of ``study`` has tried yet, the cheapest
    to train first (:func:`multiply_adds`), so the pruner has their scores when a costly one
    reaches its first rung."""
    done = {TrialRecord.of(t).preset for t in study.get_trials(deepcopy=False)}
    presets = [p for p in space.presets.values() if p.dataset == dataset and p.name not in done]

    def cost(preset: Preset) -> int:
        candidate = space.from_params(preset.params)
        return multiply_adds(space.build_model(candidate, input_shape, num_classes))

    return sorted(presets, key=cost)


def enqueue_presets(
    study: optuna.Study, space: SearchSpace, dataset: str, input_shape: tuple[int, ...], num_classes: int
) -> list[str]:
    """Put :func:`presets_to_try` first in the study's queue, once each; returns their names in
    that order."""
    queued = []
    for preset in presets_to_try(study, space, dataset, input_shape, num_classes):
        study.enqueue_trial(dict(preset.params), user_attrs=TrialRecord(preset=preset.name).attrs())
        queued.append(preset.name)
    return queued
