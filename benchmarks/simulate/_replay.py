"""A trainer that trains nothing: it replays recorded epochs through a trial's own callbacks.

:class:`ReplayTrainer` is a :class:`~search.training.Trainer` for the simulator. Asked to build a
candidate it answers with a :class:`ReplayModel` standing for the nearest recorded configuration
(:class:`~benchmarks.simulate.Surrogate`); asked to fit it, it calls the trial's callbacks as Keras'
``model.fit`` would (``on_train_begin``, then per epoch ``on_epoch_begin``, a few
``on_train_batch_end``, ``on_test_begin`` and ``on_epoch_end`` with the recorded validation
accuracy and loss), advancing a :class:`~search.core.VirtualClock` by the recorded seconds. So the
platform's pruning callback, time budget and deadline decide, on virtual time, exactly as they do
in a real search: only Keras' arithmetic and the wall clock are replaced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.curves import CurveRecord
from benchmarks.simulate._surrogate import Surrogate
from search.core import VirtualClock
from search.training import FinalFit, TrainResult
from spaces import Candidate, UnbuildableError

__all__ = ["BUILD_SECONDS", "TRACKING_SECONDS", "ReplayModel", "ReplayTrainer", "ValidationDraw"]

#: the share of a recorded epoch's seconds spent training (the rest: validating it)
TRAIN_SHARE = 0.9

#: wall seconds building a model and counting its multiply-adds take, on one core of the
#: reference machine (lenet: 0.08 s median): every build costs them, a sampler's check that a
#: point builds as well as a trial's, so a trial refused before training is not free (without
#: them a search refusing every candidate would never reach its end)
BUILD_SECONDS = 0.08
#: wall seconds a platform trial's SQLite study rows and MLflow run take there (0.24 s median);
#: a peer's script keeps an in-memory study and tracks nothing
TRACKING_SECONDS = 0.24


@dataclass(frozen=True)
class ValidationDraw:
    """A validation split of ``images`` images, drawn afresh for each seed, in place of the
    recorded one.

    The recorded validation split is small (600 images at ``--limit 6000``): near the top, configurations
    a few images apart on it are far apart on the 6,000 test images, so which one a search ends
    on is decided by that split's noise more than by the search. A ``make run`` on Fashion-MNIST
    validates on 6,000 images. This draw gives each epoch the validation accuracy such a split
    would measure: a binomial count of ``images`` with the recorded test accuracy of that epoch as
    its probability, so ties fall at that split's resolution. The same ``seed``, record and epoch
    always draw the same count (paired seeds see the same split). The final model is still scored
    on the recorded test accuracy, which the draw is centred on: this measures how well a search
    finds what is best on the test split when it sees it through a validation split of that size,
    not how a choice generalises.
    """

    images: int
    seed: int

    def __call__(self, record: CurveRecord, epoch: int) -> float:
        import numpy as np

        accuracy = record.test_accuracy[min(epoch, len(record.test_accuracy) - 1)]
        rng = np.random.default_rng([self.seed, int(record.id, 16) % 2**63, epoch])
        return int(rng.binomial(self.images, accuracy)) / self.images


@dataclass
class ReplayModel:
    """What the objective and the callbacks ask of a model, for a recorded configuration."""

    record: CurveRecord
    distance: float = 0.0  # how far the proposed point is from the recorded one
    stop_training: bool = False
    best_epoch: int | None = field(default=None)  # set by a fit: the epoch whose weights it holds

    def count_params(self) -> int:
        return int(self.record.param_count or 0)


class ReplayTrainer:
    """Builds and fits candidates from recorded curves, on a virtual clock.

    Args:
        surrogate: the recorded configurations.
        clock: the virtual clock every fit advances.
        speed: how much faster than the recording this machine is (2: every epoch takes half the
            recorded seconds, once each record is rescaled by its probe to the reference machine:
            :meth:`Surrogate.time_scale`).
        batches: ``on_train_batch_end`` calls per epoch (spread over its real batch numbers, so a
            pace measured from them is the recorded one).
        build_seconds: virtual seconds every build costs at speed 1 (:data:`BUILD_SECONDS`,
            scaled as the budget is); the build of an unbuildable point costs them too.
        validation: the validation accuracy of every whole epoch, drawn (:class:`ValidationDraw`);
            None: the recorded one.
    """

    def __init__(
        self,
        surrogate: Surrogate,
        clock: VirtualClock,
        *,
        speed: float = 1.0,
        batches: int = 8,
        build_seconds: float = 0.0,
        validation: ValidationDraw | None = None,
    ) -> None:
        self.surrogate, self.clock, self.speed, self.batches = surrogate, clock, speed, batches
        self.build_seconds, self.validation = build_seconds, validation
        self.fits: list[ReplayModel] = []
        self._points: list[tuple[Candidate, Mapping[str, Any]]] = []  # candidates built, and their points

    def build(self, space: Any, candidate: Candidate, data: Any, *, params: Mapping[str, Any], jit: bool = False) -> ReplayModel:
        self._points.append((candidate, dict(params)))
        self.clock.advance(self.build_seconds / self.speed)
        record, distance = self.surrogate.nearest(params)
        if record.status == "unbuildable":
            raise UnbuildableError(record.reason or "unbuildable (recorded)")
        return ReplayModel(record, distance)

    def multiply_adds(self, model: ReplayModel) -> int:
        if not model.record.multiply_adds:
            raise ValueError("no multiply-adds recorded")
        return int(model.record.multiply_adds)

    def fit(
        self,
        space: Any,
        candidate: Candidate,
        data: Any,
        *,
        max_epochs: int,
        callbacks: Sequence[Any] = (),
        model: ReplayModel | None = None,
        initial_epoch: int = 0,
        first_epoch_images: int | None = None,
        verbose: bool = False,
        subset_seed: int = 0,
    ) -> TrainResult:
        if model is None:
            raise ValueError("the replay trainer fits the model it built")
        record = model.record
        if record.status != "ok":
            from search.training import NonFiniteLossError

            raise NonFiniteLossError(record.reason or "failed (recorded)")
        epochs = min(candidate.train.epochs, max_epochs)
        images, batch_size = len(data.y_train), int(candidate.train.batch_size)
        steps = math.ceil(images / batch_size)
        subset = first_epoch_images is not None and initial_epoch == 0 and epochs > 1 and bool(record.subset_val_accuracy)
        first_steps = math.ceil(first_epoch_images / batch_size) if subset and first_epoch_images else steps
        model.stop_training = False
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params({"epochs": epochs, "steps": first_steps if subset else steps, "verbose": 0, "full_steps": steps})
        history: dict[str, list[float]] = {}
        start = self.clock.now()
        for cb in callbacks:
            cb.on_train_begin({})
        best, best_epoch, run = -math.inf, -1, 0
        for epoch in range(initial_epoch, epochs):
            first = subset and epoch == 0
            if subset and epoch == 1:
                for cb in callbacks:
                    cb.set_params({"epochs": epochs, "steps": steps, "verbose": 0, "full_steps": steps})
            val, loss, seconds = self._epoch(record, epoch, first_subset=subset)
            n = first_steps if first else steps
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            for k in range(self.batches):
                self.clock.advance(seconds * TRAIN_SHARE / self.batches)
                batch = min(n - 1, round((k + 1) * n / self.batches) - 1)
                for cb in callbacks:
                    cb.on_train_batch_end(batch, {"loss": loss})
                if model.stop_training:
                    break
            for cb in callbacks:
                cb.on_test_begin({})
            self.clock.advance(seconds * (1 - TRAIN_SHARE))
            logs = {"loss": loss, "val_accuracy": val, "val_loss": loss, "epoch_seconds": seconds}
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            for key, value in logs.items():
                history.setdefault(key, []).append(float(value))
            run += 1
            if val > best:
                best, best_epoch = val, epoch
            if model.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end({})
        model.best_epoch = best_epoch
        self.fits.append(model)
        seconds_run = self.clock.now() - start
        whole = history.get("epoch_seconds", [])[1 if subset else 0 :] or history.get("epoch_seconds", [])
        return TrainResult(
            history=history,
            val_accuracy=best,
            best_epoch=best_epoch - initial_epoch,
            epochs_run=run,
            train_seconds=seconds_run,
            seconds_per_epoch=sum(whole) / len(whole) if whole else seconds_run,
            param_count=model.count_params(),
            images_per_second=images * run / max(seconds_run, 1e-9),
            model=model,  # type: ignore[arg-type]
            first_epoch_images=first_epoch_images if subset else None,
        )

    def fit_final(
        self,
        space: Any,
        candidate: Candidate,
        data: Any,
        *,
        epochs: int,
        schedule_epochs: int,
        deadline: float | None = None,
        verbose: bool = False,
        jit: bool = False,
        clock: Any = None,
    ) -> FinalFit:
        """The refit: ``epochs`` epochs of the candidate's configuration on training and validation
        images, each as long as its recorded whole epochs scaled by the extra images; stopped at
        ``deadline`` like :func:`~search.training.fit_final`."""
        params = next((p for c, p in reversed(self._points) if c == candidate), None)
        if params is None:
            raise ValueError("the replay trainer refits only candidates it built")
        record, distance = self.surrogate.nearest(params)
        images = len(data.y_train) + len(data.y_val)
        whole = record.epoch_seconds[1:] or record.epoch_seconds
        per_epoch = sum(whole) / len(whole) * images / len(data.y_train) * self.surrogate.time_scale(record) / self.speed
        start, run, finished = self.clock.now(), 0, True
        for _ in range(epochs):
            if deadline is not None and self.clock.now() + per_epoch > deadline:
                self.clock.advance(max(0.0, deadline - self.clock.now()))
                finished = False
                run += 1  # begun, and cut short
                break
            self.clock.advance(per_epoch)
            run += 1
        model = ReplayModel(record, distance, best_epoch=run - 1)
        return FinalFit(
            history={"epoch_seconds": [per_epoch] * run},
            epochs_run=run,
            finished=finished,
            train_seconds=self.clock.now() - start,
            images=images,
            model=model,  # type: ignore[arg-type]
        )

    def _epoch(self, record: CurveRecord, epoch: int, *, first_subset: bool) -> tuple[float, float, float]:
        """(validation accuracy, loss, seconds) of recorded epoch ``epoch`` (a curve shorter than
        the candidate's epochs stays at its last value: the nearest record planned fewer)."""
        if first_subset and epoch < len(record.subset_val_accuracy):
            val = record.subset_val_accuracy[epoch]
            seconds = record.subset_epoch_seconds[epoch]
        else:
            i = min(epoch, len(record.val_accuracy) - 1)
            val, seconds = record.val_accuracy[i], record.epoch_seconds[min(epoch, len(record.epoch_seconds) - 1)]
            if self.validation is not None:
                val = self.validation(record, i)
        i = min(epoch, len(record.val_loss) - 1)
        loss = record.val_loss[i] if record.val_loss else 1.0
        scale = self.surrogate.time_scale(record) / self.speed
        return float(val), float(loss if math.isfinite(loss) else 1e9), float(seconds) * scale

    def test_accuracy(self, model: ReplayModel, epoch: int | None = None) -> float:
        """The recorded test accuracy of ``model``'s configuration after ``epoch`` (0-based;
        None: its best validation epoch in its last fit)."""
        record = model.record
        e = model.best_epoch if epoch is None else epoch
        e = max(0, min(e if e is not None else 0, len(record.test_accuracy) - 1))
        return float(record.test_accuracy[e])
