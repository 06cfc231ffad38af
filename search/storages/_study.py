"""Creating a study, or resuming it when it was made for the same family, data and objectives."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import optuna

__all__ = ["open_study"]

_log = logging.getLogger(__name__)


def open_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    *,
    directions: Sequence[optuna.study.StudyDirection],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    attrs: dict[str, Any],
) -> optuna.Study:
    """Create the study, or resume it when it exists with the same family, data and objectives.

    Raises:
        ValueError: the existing study was made for another space, data set or objectives.
    """
    try:
        existing = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        existing = None
    if existing is not None:
        for key in ("space", "family", "dataset"):
            old = existing.user_attrs.get(key)
            if old is not None and key in attrs and old != attrs[key]:
                raise ValueError(
                    f"study {name!r} was made for {key} {old!r}, not {attrs[key]!r}: "
                    "choose another --study-name"
                )
        if list(existing.directions) != list(directions):
            raise ValueError(
                f"study {name!r} has other objectives ({len(existing.directions)}): "
                "choose another --study-name"
            )
        _log.info("resuming study %s (%d trials so far)", name, len(existing.trials))
        return existing
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        directions=list(directions),
        load_if_exists=True,
    )
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study
