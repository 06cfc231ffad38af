"""Predicting a candidate's training time before it trains, calibrated on this machine and data.

A trial's seconds per epoch grow with the work of an epoch (the model's multiply-adds per image
times the training images) and shrink with the batch size (fewer steps, each better used). The
model here is a least-squares line in logs,

    log(seconds per epoch) = a + b * log(multiply-adds x images) + c * log(batch size),

fitted to what the study's own trials measured on this machine (whole epochs, or the pace of the
first batches of a trial stopped before its first epoch ended), with a Gaussian prior on the
coefficients: before any trial has finished, the prior alone predicts, and it is deliberately
fast (about twice this 2-core machine's unloaded pace) so that a guess never rejects a candidate
a measurement would have let train; each measurement then pulls the line to this machine's speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from search.core import TOO_SLOW

__all__ = ["TOO_SLOW", "CostObservation", "EpochCostModel", "fastest_pace"]


#: user attributes a trial records for the cost model
MULTIPLY_ADDS_ATTR = "multiply_adds"
BATCH_SIZE_ATTR = "batch_size"
TRAIN_IMAGES_ATTR = "train_images"
BATCH_PACE_ATTR = "batch_seconds_per_epoch"  # from the first batches of a trial stopped in its first epoch


@dataclass(frozen=True)
class CostObservation:
    """One measured pace: a model's multiply-adds per image, the training images, its batch size
    and the seconds one epoch took."""

    multiply_adds: int
    images: int
    batch_size: int
    seconds_per_epoch: float


class EpochCostModel:
    """Seconds per epoch of a candidate, from its multiply-adds, the images and its batch size.

    Args:
        observations: measured paces of this study's trials (none: the prior alone predicts).
    """

    #: reference point of the centred features: 1e11 multiply-adds per epoch, batch 64
    REF_WORK = 1e11
    REF_BATCH = 64.0
    #: the prior: seconds per epoch at the reference point (fast on purpose, see the module),
    #: seconds growing in proportion to the work, and -0.3 per log of batch size (on CPU, tiny
    #: batches are slow per image: each step has a fixed overhead)
    PRIOR = (math.log(2.0), 1.0, -0.3)
    #: prior precisions, in units of observations: the intercept follows the first measurement;
    #: the slopes need a few trials of different sizes before they move much
    PRIOR_WEIGHT = (0.001, 3.0, 3.0)

    def __init__(self, observations: Iterable[CostObservation] = ()) -> None:
        self.observations = [o for o in observations if _usable(o)]
        self.coefficients = self._fit(self.observations)

    @property
    def calibrated(self) -> bool:
        """Whether any measurement of this machine backs the predictions."""
        return bool(self.observations)

    @classmethod
    def from_trials(cls, trials: Iterable[object]) -> EpochCostModel:
        """The model fitted to every trial (Optuna ``FrozenTrial``) that recorded its multiply-adds,
        batch size, training images and a pace: ``seconds_per_epoch`` of its whole epochs, else
        the pace of its first batches."""
        observations = []
        for trial in trials:
            attrs = getattr(trial, "user_attrs", {})
            pace = attrs.get("seconds_per_epoch") or attrs.get(BATCH_PACE_ATTR)
            madds, batch, images = (attrs.get(k) for k in (MULTIPLY_ADDS_ATTR, BATCH_SIZE_ATTR, TRAIN_IMAGES_ATTR))
            if pace and madds and batch and images:
                observations.append(CostObservation(int(madds), int(images), int(batch), float(pace)))
        return cls(observations)

    def seconds_per_epoch(self, multiply_adds: int, images: int, batch_size: int) -> float:
        """Predicted seconds of one epoch (training and validation)."""
        x = _features(multiply_adds, images, batch_size)
        return float(math.exp(float(np.dot(self.coefficients, x))))

    @classmethod
    def _fit(cls, observations: Sequence[CostObservation]) -> np.ndarray:
        prior, weight = np.array(cls.PRIOR), np.diag(cls.PRIOR_WEIGHT)
        if not observations:
            return prior
        x = np.array([_features(o.multiply_adds, o.images, o.batch_size) for o in observations])
        y = np.log([o.seconds_per_epoch for o in observations])
        # the maximum a posteriori line: (X'X + W) theta = X'y + W prior
        return np.linalg.solve(x.T @ x + weight, x.T @ y + weight @ prior)


def _features(multiply_adds: int, images: int, batch_size: int) -> np.ndarray:
    work = max(float(multiply_adds) * float(images), 1.0)
    return np.array(
        [1.0, math.log(work / EpochCostModel.REF_WORK), math.log(max(batch_size, 1) / EpochCostModel.REF_BATCH)]
    )


def _usable(o: CostObservation) -> bool:
    return o.multiply_adds > 0 and o.images > 0 and o.batch_size > 0 and math.isfinite(o.seconds_per_epoch) and o.seconds_per_epoch > 0


def fastest_pace(trials: Iterable[object]) -> float | None:
    """The fewest seconds per epoch any of ``trials`` (Optuna ``FrozenTrial``) measured: of its
    whole epochs, else of its first batches (None: none has measured a pace)."""
    paces = []
    for trial in trials:
        attrs = getattr(trial, "user_attrs", {})
        pace = float(attrs.get("seconds_per_epoch") or attrs.get(BATCH_PACE_ATTR) or 0.0)
        if pace > 0:
            paces.append(pace)
    return min(paces) if paces else None
