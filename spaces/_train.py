"""Training knobs shared by every family: epochs, batch, optimizer, loss, schedule, augmentation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from spaces._params import ParamSource

__all__ = ["LOSSES", "OPTIMIZERS", "SCHEDULES", "TrainConfig", "TrainRanges", "sample_train"]

OPTIMIZERS = ("adam", "rmsprop", "sgd", "adamax", "nadam")
LOSSES = ("categorical_crossentropy", "kl_divergence")
SCHEDULES = ("constant", "cosine", "plateau")


@dataclass(frozen=True)
class TrainRanges:
    """The training ranges a family searches; each default contains every value the documents tried."""

    epochs: tuple[int, int] = (1, 150)  # 001 trained 150 epochs; --max-epochs caps what runs
    batch_size: tuple[int, int] = (8, 512)  # 003 tried 8..128; 001 used 65 and 100
    learning_rate: tuple[float, float] = (1e-5, 1e-1)  # 001 tried 1e-4..0.1
    optimizers: tuple[str, ...] = OPTIMIZERS  # 003: "Adam won, RMSprop and Adamax came close"
    max_label_smoothing: float = 0.2  # a practitioner's regulariser, off (0) in every preset
    max_shift: float = 0.15  # light augmentation: random shifts up to 15% of the image side


@dataclass(frozen=True)
class TrainConfig:
    """How one model is trained; a point of the training part of a space."""

    epochs: int  # the run stops at min(epochs, --max-epochs)
    batch_size: int
    learning_rate: float
    optimizer: str  # one of OPTIMIZERS
    momentum: float = 0.0  # SGD only; 0 for plain SGD as in document 001
    loss: str = "categorical_crossentropy"  # or KL divergence, the only loss 003 found close
    label_smoothing: float = 0.0
    lr_schedule: str = "constant"  # cosine decay to 0 over the epochs, or reduce-on-plateau
    shift: float = 0.0  # random translation as a fraction of height/width (0 = none)
    hflip: bool = False  # random horizontal flips
    weight_decay: float = 0.0  # L2 on conv/dense kernels (0 = off), proposed by document 000

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        """A fresh Keras optimizer for this configuration."""
        lr = self.learning_rate
        if self.optimizer == "sgd":
            return keras.optimizers.SGD(learning_rate=lr, momentum=self.momentum)
        classes = {
            "adam": keras.optimizers.Adam,
            "rmsprop": keras.optimizers.RMSprop,
            "adamax": keras.optimizers.Adamax,
            "nadam": keras.optimizers.Nadam,
        }
        return classes[self.optimizer](learning_rate=lr)

    def make_loss(self) -> keras.losses.Loss:
        """The loss on one-hot labels and softmax outputs."""
        if self.loss == "kl_divergence":
            return _SmoothedKLDivergence(self.label_smoothing)
        return keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)

    def schedule_callbacks(self, epochs: int, monitor: str = "val_loss") -> list[keras.callbacks.Callback]:
        """Callbacks that drive the learning-rate schedule over ``epochs`` epochs.

        Args:
            epochs: the length of the run (cosine decays to 0 at its end).
            monitor: what reduce-on-plateau watches; ``"loss"`` when training without a
                validation split (the final model, :mod:`search.final`).
        """
        if self.lr_schedule == "cosine":
            base = self.learning_rate

            def cosine(epoch: int, _lr: float) -> float:
                return base * 0.5 * (1 + math.cos(math.pi * epoch / max(1, epochs)))

            return [keras.callbacks.LearningRateScheduler(cosine)]
        if self.lr_schedule == "plateau":
            return [
                keras.callbacks.ReduceLROnPlateau(
                    monitor=monitor, factor=0.5, patience=2, min_lr=self.learning_rate / 100
                )
            ]
        return []


@keras.saving.register_keras_serializable(package="spaces")
class _SmoothedKLDivergence(keras.losses.Loss):
    """KL divergence with the same label smoothing as the cross-entropy loss."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "kl_divergence", **kwargs: object):
        super().__init__(name=name, **kwargs)  # type: ignore[arg-type]
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        num_classes = keras.ops.cast(keras.ops.shape(y_true)[-1], y_pred.dtype)
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        y_true = y_true * (1 - self.label_smoothing) + self.label_smoothing / num_classes
        return keras.losses.kl_divergence(y_true, y_pred)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}

    def keras_equivalent(self) -> keras.losses.Loss:
        """Keras' own loss that trains the same: without smoothing the KL divergence itself; with
        it, the cross-entropy with the same smoothing, which differs from this loss by the
        smoothed targets' entropy, a constant (the same gradients). A logged model records it
        (:mod:`search.tracking`), so that it can be trained further where this module is absent."""
        if self.label_smoothing == 0:
            return keras.losses.KLDivergence(name=self.name)
        return keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)


def sample_train(hp: ParamSource, ranges: TrainRanges, *, model_knobs: bool = True) -> TrainConfig:
    """Ask ``hp`` for the training parameters within ``ranges``.

    Args:
        hp: where the values come from.
        ranges: the ranges searched.
        model_knobs: also ask for the knobs that change the model itself (augmentation layers and
            weight decay on its kernels), which only a family's :meth:`Space.build_model` applies;
            a user's ``build(hp)`` model gets none of them (:class:`spaces.BuildFnSpace`).
    """
    optimizer = hp.choice("optimizer", ranges.optimizers)
    smoothing = hp.boolean("label_smoothing_on")
    regularise = hp.boolean("weight_decay_on") if model_knobs else False
    return TrainConfig(
        epochs=hp.int("epochs", *ranges.epochs),
        batch_size=hp.int("batch_size", *ranges.batch_size, log=True),
        learning_rate=hp.float("learning_rate", *ranges.learning_rate, log=True),
        optimizer=optimizer,
        momentum=hp.float("momentum", 0.0, 0.99) if optimizer == "sgd" else 0.0,
        loss=hp.choice("loss", LOSSES),
        label_smoothing=(
            hp.float("label_smoothing", 0.01, ranges.max_label_smoothing) if smoothing else 0.0
        ),
        lr_schedule=hp.choice("lr_schedule", SCHEDULES),
        shift=hp.float("shift", 0.0, ranges.max_shift, step=0.01) if model_knobs else 0.0,
        hflip=hp.boolean("hflip") if model_knobs else False,
        weight_decay=hp.float("weight_decay", 1e-6, 1e-2, log=True) if regularise else 0.0,
    )
