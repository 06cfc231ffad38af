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
from search.records import TrialRecord

__all__ = ["TOO_SLOW", "CostObservation", "EpochCostModel", "fastest_pace"]



@dataclass(frozen=True)
class CostObservation:
    """One measured pace: a model's multiply-adds per image, the training images, its batch size
    and the seconds one epoch took."""

    multiply_adds: int
    images: int
    batch_size: int
    seconds_per_epoch: float

    @classmethod
    def of(cls, record: TrialRecord) -> CostObservation | None:
        """What a trial's record measured, when it recorded its multiply-adds, batch size,
        training images and a pace (:attr:`~search.records.TrialRecord.pace`: of its whole
        epochs, else of its first batches); None otherwise."""
        pace, madds, batch, images = record.pace, record.multiply_adds, record.batch_size, record.train_images
        if pace and madds and batch and images:
            return cls(madds, images, batch, pace)
        return None


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
    def from_records(cls, records: Iterable[TrialRecord]) -> EpochCostModel:
        """The model fitted to every trial's record that holds an observation
        (:meth:`CostObservation.of`)."""
        return cls(o for o in map(CostObservation.of, records) if o is not None)

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


def fastest_pace(records: Iterable[TrialRecord]) -> float | None:
    """The fewest seconds per epoch any of the trials of ``records`` measured: of its whole
    epochs, else of its first batches (None: none has measured a pace)."""
    paces = [pace for r in records if (pace := r.pace or 0.0) > 0]
    return min(paces) if paces else None
